"""The collect stage: every source into the raw store, counts per source.

`run_collect(settings, sources, window)` is what the CLI calls; flows run one Prefect task
per source (tasks.py) over `collect_one`, so that a source that fails is retried alone. A
source that cannot be read at all ends with its reason in `error`, never as a crash.
"""

from __future__ import annotations

from slimline.config import Settings
from slimline.store import open_raw
from slimline.tasks.collect.config import Window
from slimline.tasks.collect.formats import RecordBuilder
from slimline.tasks.collect.ingest import collect_source
from slimline.tasks.collect.result import CollectResult, SourceCounts


def collect_one(settings: Settings, source: str, window: Window | None = None) -> SourceCounts:
    """Collect one source (file, directory or glob) into the raw store; with a `window`,
    only the calls inside it (a backfilled night: no watermark moves)."""
    store = open_raw(settings)
    try:
        return collect_source(store, source, settings.collect, window=window)
    finally:
        store.close()


def run_collect(
    settings: Settings,
    sources: list[str] | None = None,
    window: Window | None = None,
    parent_run_id: str | None = None,
) -> CollectResult:
    """Collect every source (default: `collect.sources`) into the raw store. Collect logs no
    MLflow run (its counts are on the night's run), so `parent_run_id` is unused."""
    wanted = list(sources or settings.collect.sources)
    store = open_raw(settings)
    try:
        builder = RecordBuilder(default_agent=settings.collect.default_agent)
        return CollectResult(
            sources=[collect_source(store, s, settings.collect, builder, window) for s in wanted]
        )
    finally:
        store.close()
