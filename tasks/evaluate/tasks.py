"""Evaluate's Prefect task: held-out metrics of every trained cluster, and the `evaluation`
artifact. In the nightly flow it is given the night's retraining plan and cached on it
(slimline/caching.py), so a re-run of a crashed night does not evaluate again."""

from __future__ import annotations

from prefect import task

from slimline.caching import plan_cache_key
from slimline.config import Settings
from slimline.tasks.evaluate.result import EvaluateResult
from slimline.tasks.evaluate.stage import run_evaluate
from slimline.tasks.train.result import TrainResult

ARTIFACT_KEY = "evaluation"


def _evaluate(
    settings: Settings,
    training: TrainResult | None = None,
    plan: dict[int, str] | None = None,
    parent_run_id: str | None = None,
) -> EvaluateResult:
    """Evaluate `training`'s clusters (None: each cluster's newest train run in MLflow)."""
    result = run_evaluate(settings, training, parent_run_id=parent_run_id)
    publish_evaluation(result)
    return result


evaluate_task = task(
    name="evaluate", cache_key_fn=plan_cache_key("evaluate", _evaluate), persist_result=True
)(_evaluate)


def publish_evaluation(result: EvaluateResult) -> str:
    """One line per cluster (metrics per model, no call content) as a markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    lines = [f"# Evaluation: {len(result.evaluated)} of {len(result.clusters)} clusters", ""]
    lines += [f"- {r.summary_line()}" for r in result.clusters]
    return str(create_markdown_artifact(key=ARTIFACT_KEY, markdown="\n".join(lines) + "\n"))
