"""Collect's Prefect task: one source into the raw store, retried when it fails to read
(not when it does not exist), and the counts artifact of a flow's sources.

`collect_in_flow` is what the collect and nightly flows call: the task once per source, the
failed ones turned into counts with their error, and the table artifact `collect-counts`
(counts only, never any record content).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from slimline.config import Settings
from slimline.tasks.collect.config import Window
from slimline.tasks.collect.files import SourceNotFound
from slimline.tasks.collect.result import CollectResult, SourceCounts
from slimline.tasks.collect.stage import collect_one

ARTIFACT_KEY = "collect-counts"


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
def collect_task(settings: Settings, source: str, window: Window | None = None) -> SourceCounts:
    """Collect one source; raises (and is retried) if it cannot be read. A retry resumes
    from the watermark, so nothing is stored twice."""
    counts = collect_one(settings, source, window)
    if counts.error and counts.files == 0:
        raise SourceNotFound(counts.error)
    if counts.error:
        raise SourceReadError(counts.error)
    return counts


def _counts(source: str, state: State) -> SourceCounts:
    if state.is_completed():
        return state.result()
    error = state.result(raise_on_failure=False)
    return SourceCounts(source=source, error=str(error) or type(error).__name__)


def collect_in_flow(
    settings: Settings, sources: list[str] | None = None, window: Window | None = None
) -> CollectResult:
    """Inside a flow: every source (default: `collect.sources`) as its own task run, then the
    `collect-counts` artifact."""
    wanted = list(sources or settings.collect.sources)
    result = CollectResult(
        sources=[_counts(s, collect_task(settings, s, window, return_state=True)) for s in wanted]
    )
    publish_counts(result)
    return result


def publish_counts(result: CollectResult) -> None:
    """The table artifact: one row per source, and a total. Counts only."""
    columns = (
        "files", "unchanged", "lines", "new", "duplicates", "quarantined", "skipped",
        "outside_window",
    )  # fmt: skip
    rows: list[dict[str, Any]] = [
        {"source": s.source, **{c: getattr(s, c) for c in columns}, "error": bool(s.error)}
        for s in result.sources
    ]
    total = {c: sum(getattr(s, c) for s in result.sources) for c in columns}
    rows.append({"source": "(total)", **total, "error": result.errors > 0})
    create_table_artifact(
        table=rows,
        key=ARTIFACT_KEY,
        description=f"collect: {result.new} new calls, {result.duplicates} already stored, "
        f"{result.quarantined} quarantined",
    )
