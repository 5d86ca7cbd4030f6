"""The `evaluate` flow: held-out metrics of every cluster's newest adapter against its base
model and champion, logged into the clusters' train runs."""

from __future__ import annotations

from typing import Any

from prefect import flow

from slimline.config import load_settings
from slimline.runtime import configure
from slimline.tasks.evaluate.tasks import evaluate_clusters_task


@flow(name="evaluate")
def evaluate(home: str | None = None, config: str | None = None) -> list[dict[str, Any]]:
    settings = load_settings(config, home=home)
    configure(settings)
    return [r.to_dict() for r in evaluate_clusters_task(settings)]


if __name__ == "__main__":
    evaluate()
