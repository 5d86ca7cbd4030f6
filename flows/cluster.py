"""The `cluster` flow: scrubbed calls -> task clusters with stable ids -> a table artifact.

    cluster-calls (assign to known clusters, fit new ones among the rest, MLflow run,
    `clusters` table artifact)

Wiring only; the stage lives in tasks/cluster/. Run it with `python -m slimline.flows.cluster`
or from a deployment. The nightly flow calls `cluster_calls` (tasks/cluster/run.py) itself.
"""

from __future__ import annotations

from prefect import flow

from slimline.config import load_settings
from slimline.runtime import configure
from slimline.tasks.cluster.run import ClusterResult
from slimline.tasks.cluster.tasks import cluster_task


@flow(name="cluster")
def cluster(
    home: str | None = None, config: str | None = None, profile: str | None = None
) -> ClusterResult:
    """Cluster the scrubbed calls in SLIMLINE_HOME's work store."""
    settings = load_settings(config, home=home, profile=profile)
    configure(settings)
    return cluster_task(settings)


if __name__ == "__main__":
    cluster()
