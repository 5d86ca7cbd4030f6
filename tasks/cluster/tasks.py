"""Prefect task wrappers of the cluster stage (the logic lives in run.py).

`cluster_task` runs `cluster_calls` and publishes the clusters as a Prefect table artifact
(`clusters`): one row per cluster with its label and stats, no call content.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.cluster.run import ClusterResult


def publish_clusters(result: ClusterResult) -> Any:
    """The clusters as a Prefect table artifact (key `clusters`); returns its id."""
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
    return create_table_artifact(key="clusters", table=rows, description=description)


@task(name="cluster-calls", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def cluster_task(settings: Settings) -> ClusterResult:
    """Assign new calls to known clusters, find new clusters among the rest, publish them."""
    from slimline.tasks.cluster.run import cluster_calls

    result = cluster_calls(settings)
    publish_clusters(result)
    return result
