"""The `evaluate` flow: held-out metrics of every cluster's newest adapter against its base
model and champion, logged into the clusters' train runs, and the `evaluation` artifact."""

from __future__ import annotations

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.evaluate.result import EvaluateResult
from slimline.tasks.evaluate.tasks import evaluate_task


@flow(name="evaluate")
def evaluate(
    home: str | None = None, config: str | None = None, profile: str | None = None
) -> EvaluateResult:
    """Evaluate each cluster's newest trained adapter."""
    return evaluate_task(flow_settings(home, config, profile))


if __name__ == "__main__":
    evaluate()
