"""The `cluster` flow: scrubbed calls -> task clusters with stable ids -> the `clusters`
table artifact and an MLflow run."""

from __future__ import annotations

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.cluster.result import ClusterResult
from slimline.tasks.cluster.tasks import cluster_task


@flow(name="cluster")
def cluster(
    home: str | None = None, config: str | None = None, profile: str | None = None
) -> ClusterResult:
    """Cluster the scrubbed calls in SLIMLINE_HOME's work store."""
    return cluster_task(flow_settings(home, config, profile))


if __name__ == "__main__":
    cluster()
