"""Collect's Prefect tasks: one task per source (with retries) and the counts artifact.

Imports Prefect, so only flows import this module. The artifact holds counts only (files,
new, duplicates, quarantined, ...): never any record content.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from slimline.config import Settings
from slimline.store import RawStore
from slimline.tasks.collect.files import SourceNotFound
from slimline.tasks.collect.ingest import CollectResult, SourceCounts, Window, collect_source


class SourceReadError(OSError):
    """A source that could not be read completely this time (worth a retry)."""


def _retry_unless_missing(_task: Any, _run: Any, state: State) -> bool:
    error = state.result(raise_on_failure=False)
    return not isinstance(error, SourceNotFound)


@task(
    name="collect-source",
    task_run_name="collect {source}",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_retry_unless_missing,
    cache_policy=NO_CACHE,  # every run must look for what is new
)
def collect_source_task(
    settings: Settings, source: str, window: Window | None = None
) -> SourceCounts:
    """Collect one source into the raw store (with a `window`, only the calls inside it);
    raises (and is retried) if it cannot be read. A retry resumes from the watermark, so
    nothing is stored twice."""
    store = RawStore(settings.raw_store_url)
    try:
        counts = collect_source(store, source, settings.collect, window=window)
    finally:
        store.close()
    if counts.error and counts.files == 0:
        raise SourceNotFound(counts.error)
    if counts.error:
        raise SourceReadError(counts.error)
    return counts


def counts_from_state(source: str, state: State) -> SourceCounts:
    """The counts of a finished collect-source task run, or its error as counts."""
    if state.is_completed():
        return state.result()
    error = state.result(raise_on_failure=False)
    return SourceCounts(source=source, error=str(error) or type(error).__name__)


def publish_counts(result: CollectResult) -> None:
    """A table artifact `collect-counts`: one row per source, and a total. Counts only."""
    columns = (
        "files", "unchanged", "lines", "new", "duplicates", "quarantined", "skipped",
        "outside_window",
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    for s in result.sources:
        rows.append(
            {"source": s.source, **{c: getattr(s, c) for c in columns}, "error": bool(s.error)}
        )
    total = {c: sum(getattr(s, c) for s in result.sources) for c in columns}
    rows.append({"source": "(total)", **total, "error": result.errors > 0})
    create_table_artifact(
        table=rows,
        key="collect-counts",
        description=f"collect: {result.new} new calls, {result.duplicates} already stored, "
        f"{result.quarantined} quarantined",
    )
