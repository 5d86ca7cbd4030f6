"""The `promote` flow: the gate over the last evaluation, registry aliases, the promotion
event, and what the champions now serve (MLflow metrics and a markdown artifact)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from slimline.config import load_settings
from slimline.runtime import configure
from slimline.tasks.promote.tasks import promote_clusters_task, served_summary_task


@flow(name="promote")
def promote(home: str | None = None, config: str | None = None) -> dict[str, Any]:
    settings = load_settings(config, home=home)
    configure(settings)
    result = promote_clusters_task(settings)
    summary = served_summary_task(settings)
    return {**result.to_dict(), "served": {k: v for k, v in summary.items() if k != "clusters"}}


if __name__ == "__main__":
    promote()
