"""The `train` flow: select -> an adapter per trainable cluster (LoRA/DoRA on Ray), each
logged to MLflow, and the `train-summary` artifact."""

from __future__ import annotations

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.select.tasks import select_task
from slimline.tasks.train.result import TrainResult
from slimline.tasks.train.tasks import train_task


@flow(name="train")
def train(
    cluster_ids: list[int] | None = None,
    parent_run_id: str | None = None,
    home: str | None = None,
    config: str | None = None,
    profile: str | None = None,
) -> TrainResult:
    """Train the given clusters (None: every trainable one)."""
    settings = flow_settings(home, config, profile)
    selection = select_task(settings, cluster_ids, parent_run_id)
    return train_task(settings, cluster_ids, selection, parent_run_id=parent_run_id)


if __name__ == "__main__":
    train()
