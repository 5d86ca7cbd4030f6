"""Scrub's Prefect task: the stage, retried once, and its report artifact (counts only)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.scrub.result import ScrubResult
from slimline.tasks.scrub.stage import run_scrub

ARTIFACT_KEY = "scrub-report"


@task(name="scrub", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def scrub_task(settings: Settings, parent_run_id: str | None = None) -> ScrubResult:
    """Scrub the raw calls stored since the last run (a retry resumes after the last scrubbed
    batch), then publish the `scrub-report` artifact."""
    result = run_scrub(settings, parent_run_id=parent_run_id)
    publish_scrub_report(result)
    return result


def publish_scrub_report(result: ScrubResult) -> str:
    """A Prefect table artifact with the run's counts (never a value from the data)."""
    artifact = create_table_artifact(
        table=report_rows(result),
        key=ARTIFACT_KEY,
        description=(
            f"Scrub run {result.run_id}: {result.scrubbed} calls scrubbed in "
            f"{result.seconds:.1f} s; {result.analysed} strings analysed, "
            f"{result.from_cache} from the cache. Counts of what was replaced, per entity "
            "type, per place in a call and per source."
        ),
    )
    return str(artifact)


def report_rows(result: ScrubResult) -> list[dict[str, Any]]:
    """The report as table rows: group, name, count."""
    rows: list[dict[str, Any]] = [
        {"group": "run", "name": "scrubbed calls", "count": result.scrubbed},
        {"group": "run", "name": "strings analysed", "count": result.analysed},
        {"group": "run", "name": "strings from cache", "count": result.from_cache},
        {"group": "run", "name": "calls set aside", "count": result.quarantined},
    ]
    rows += [
        {"group": "set aside", "name": k, "count": v} for k, v in result.quarantine_reasons.items()
    ]
    rows += [{"group": "entity", "name": k, "count": v} for k, v in result.entities.items()]
    rows += [{"group": "place", "name": k, "count": v} for k, v in result.places.items()]
    rows += [{"group": "source calls", "name": k, "count": v} for k, v in result.sources.items()]
    rows += [
        {"group": "source entities", "name": k, "count": v}
        for k, v in result.source_entities.items()
    ]
    return rows
