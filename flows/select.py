"""The `select` flow: the base model each cluster is fine-tuned from, and why (the
`selection` table artifact)."""

from __future__ import annotations

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.select.result import SelectResult
from slimline.tasks.select.tasks import select_task


@flow(name="select")
def select(
    cluster_ids: list[int] | None = None,
    home: str | None = None,
    config: str | None = None,
    profile: str | None = None,
) -> SelectResult:
    """Choose the base model of the given clusters (None: every one)."""
    return select_task(flow_settings(home, config, profile), cluster_ids)


if __name__ == "__main__":
    select()
