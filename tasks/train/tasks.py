"""Prefect task wrappers of the train stage (the logic lives in stage.py, jobs.py, train.py)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.train.result import TrainResult


@task(name="train-clusters", cache_policy=NO_CACHE)
def train_clusters_task(
    settings: Settings, cluster_ids: list[int] | None = None, parent_run_id: str | None = None
) -> TrainResult:
    """An adapter per trainable cluster, trained on Ray and logged to MLflow."""
    from slimline.tasks.train.stage import train_clusters

    return train_clusters(settings, cluster_ids, parent_run_id)


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


@task(name="publish-train-summary", cache_policy=NO_CACHE)
def publish_train_summary_task(result: TrainResult) -> str:
    """The summary as a Prefect markdown artifact (key `train-summary`); returns its id."""
    from prefect.artifacts import create_markdown_artifact

    return str(create_markdown_artifact(key="train-summary", markdown=summary_markdown(result)))
