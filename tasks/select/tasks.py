"""Select's Prefect task: the choice per cluster, and the `selection` table artifact."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.select.result import SelectResult
from slimline.tasks.select.stage import run_select

ARTIFACT_KEY = "selection"


@task(name="select", cache_policy=NO_CACHE)
def select_task(
    settings: Settings, cluster_ids: list[int] | None = None, parent_run_id: str | None = None
) -> SelectResult:
    """The base model(s) of every cluster (or `cluster_ids`), published as a table."""
    result = run_select(settings, cluster_ids, parent_run_id=parent_run_id)
    if result.clusters:
        create_table_artifact(
            key=ARTIFACT_KEY,
            table=[
                {
                    "cluster": c.slug,
                    "model": c.model or "(none)",
                    "candidates": ", ".join(x.id for x in c.candidates),
                    "why": c.error or "; ".join(c.reasons),
                }
                for c in result.clusters
            ],
            description=f"base models chosen for {len(result.clusters)} clusters",
        )
    return result
