"""The `train` flow: an adapter per trainable cluster (select -> dataset -> LoRA/DoRA on Ray),
each logged to MLflow, and a summary artifact. The nightly flow runs the same task with its
own MLflow run as the parent."""

from __future__ import annotations

from prefect import flow

from slimline.config import load_settings
from slimline.runtime import configure
from slimline.tasks.train.result import TrainResult
from slimline.tasks.train.tasks import publish_train_summary_task, train_clusters_task


@flow(name="train")
def train(
    cluster_ids: list[int] | None = None,
    parent_run_id: str | None = None,
    home: str | None = None,
    config: str | None = None,
) -> TrainResult:
    """Train the given clusters (None: every trainable one)."""
    settings = load_settings(config, home=home)
    configure(settings)
    result = train_clusters_task(settings, cluster_ids, parent_run_id)
    publish_train_summary_task(result)
    return result


if __name__ == "__main__":
    train()
