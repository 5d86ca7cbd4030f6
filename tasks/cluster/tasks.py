"""Cluster's Prefect task: the stage, retried once, and the `clusters` table artifact (one
row per cluster with its label and stats, no call content)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.cluster.result import ClusterResult
from slimline.tasks.cluster.stage import run_cluster

ARTIFACT_KEY = "clusters"


@task(name="cluster", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def cluster_task(settings: Settings, parent_run_id: str | None = None) -> ClusterResult:
    """Assign new calls to known clusters, find new clusters among the rest, publish them."""
    result = run_cluster(settings, parent_run_id=parent_run_id)
    publish_clusters(result)
    return result


def publish_clusters(result: ClusterResult) -> Any:
    """The clusters as a Prefect table artifact; returns its id."""
    from prefect.artifacts import create_table_artifact

    rows = [
        {
            **row,
            "share_calls": f"{row['share_calls']:.1%}",
            "share_cost": f"{row['share_cost']:.1%}",
            "share_tool_calls": f"{row['share_tool_calls']:.1%}",
        }
        for row in result.table()
    ]
    description = (
        f"{result.total_clusters} clusters over {result.calls} scrubbed calls; "
        f"{result.new_clusters} new tonight, {result.assigned} calls assigned, "
        f"{result.unclustered} unclustered (never trained). Model v{result.model_version}."
    )
    return create_table_artifact(key=ARTIFACT_KEY, table=rows, description=description)
