"""Train's Prefect task: an adapter per cluster on Ray, logged to MLflow, and the
`train-summary` artifact. In the nightly flow it is given the night's retraining plan and
cached on it (slimline/caching.py), so a re-run of a crashed night does not train again."""

from __future__ import annotations

from prefect import task

from slimline.caching import plan_cache_key
from slimline.config import Settings
from slimline.tasks.select.result import SelectResult
from slimline.tasks.train.result import TrainResult
from slimline.tasks.train.stage import run_train

ARTIFACT_KEY = "train-summary"


def _train(
    settings: Settings,
    cluster_ids: list[int] | None = None,
    selection: SelectResult | None = None,
    plan: dict[int, str] | None = None,
    parent_run_id: str | None = None,
) -> TrainResult:
    """Train the clusters (`plan`'s when given, else `cluster_ids`, else every one)."""
    wanted = sorted(plan) if plan else cluster_ids
    result = run_train(settings, wanted, selection, parent_run_id)
    publish_train_summary(result)
    return result


train_task = task(name="train", cache_key_fn=plan_cache_key("train", _train), persist_result=True)(
    _train
)


def summary_markdown(result: TrainResult) -> str:
    """The stage's outcome as a markdown table (slugs, statuses, figures: no call content)."""
    lines = [
        f"# Training: {len(result.trained)} of {len(result.clusters)} clusters trained",
        "",
        f"{result.placement or 'no Ray jobs'}; {result.seconds:.0f} s in all; MLflow parent "
        f"run `{result.parent_run_id}`",
        "",
        "| cluster | slug | status | base model | examples | loss first -> last | eval loss "
        "| s | run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result.clusters:
        loss = f"{c.first_loss:.3f} -> {c.final_loss:.3f}" if c.final_loss is not None else ""
        ev = f"{c.eval_loss:.3f}" if c.eval_loss is not None else ""
        status = c.status + (f" ({c.reason})" if c.reason else "")
        lines.append(
            f"| {c.cluster_id} | {c.slug} | {status} | {c.selection.get('model') or ''} "
            f"| {c.examples} | {loss} | {ev} | {c.seconds:.0f} | {c.run_id or ''} |"
        )
    return "\n".join(lines) + "\n"


def publish_train_summary(result: TrainResult) -> str:
    """The summary as a Prefect markdown artifact; returns its id."""
    from prefect.artifacts import create_markdown_artifact

    return str(create_markdown_artifact(key=ARTIFACT_KEY, markdown=summary_markdown(result)))
