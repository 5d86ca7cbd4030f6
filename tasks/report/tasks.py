"""Report's Prefect task: the report in MLflow, and as Prefect artifacts: the page
(`slimline-report`, its description the headline) and the clusters table
(`slimline-clusters`: what each cluster costs and whether a champion serves it)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.evaluate.result import EvaluateResult
from slimline.tasks.report.result import ReportResult
from slimline.tasks.report.stage import run_report
from slimline.tasks.train.result import TrainResult

ARTIFACT_KEY = "slimline-report"
TABLE_KEY = "slimline-clusters"
TABLE_COLUMNS = ("slug", "label", "calls", "share_calls", "champion", "teacher_cost_usd",
                 "saved_usd")  # fmt: skip


@task(name="report", cache_policy=NO_CACHE)
def report_task(
    settings: Settings,
    stages: dict[str, dict[str, Any]] | None = None,
    evaluation: EvaluateResult | None = None,
    training: TrainResult | None = None,
    parent_run_id: str | None = None,
) -> ReportResult:
    """The report in MLflow (under the night's run) and as Prefect artifacts."""
    result = run_report(
        settings,
        stages=stages,
        evaluation=evaluation,
        training=training,
        parent_run_id=parent_run_id,
    )
    create_markdown_artifact(
        markdown=result.markdown, key=ARTIFACT_KEY, description=result.headline
    )
    create_table_artifact(
        table=[{k: row.get(k) for k in TABLE_COLUMNS} for row in result.summary["clusters"]],
        key=TABLE_KEY,
        description="clusters, what they cost, and whether a champion serves them",
    )
    return result
