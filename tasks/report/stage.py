"""The report stage: what promoted SLMs serve now, measured on the user's own traffic.

`run_report(settings, ...)` computes the served summary (summary.py: the share of calls a
champion serves and the cost it saves), the headline and the report page (markdown.py:
what each stage did tonight when `stages` are given, quality against the teacher when an
evaluation is), and logs them to MLflow as a `report` run under `parent_run_id` (the
night's run): report.md, plots (plots.py), and the `served.*` metrics, which also go onto
the parent run itself so nights compare side by side in the runs table.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from slimline.config import Settings
from slimline.store import WorkStore, open_work
from slimline.tasks.evaluate.result import EvaluateResult
from slimline.tasks.report import plots
from slimline.tasks.report.markdown import headline, quality_rows, report_markdown
from slimline.tasks.report.result import ReportResult
from slimline.tasks.report.summary import served_summary, summary_metrics
from slimline.tasks.train.result import TrainResult
from slimline.tracking import client, stage_run


def run_report(
    settings: Settings,
    *,
    stages: dict[str, dict[str, Any]] | None = None,
    evaluation: EvaluateResult | None = None,
    training: TrainResult | None = None,
    parent_run_id: str | None = None,
    work: WorkStore | None = None,
    track: bool = True,
) -> ReportResult:
    """The report; logged to MLflow unless `track` is False (e.g. `slimline report`)."""
    summary = served_summary(settings, work if work is not None else open_work(settings))
    quality = quality_rows(evaluation)
    result = ReportResult(
        summary=summary,
        headline=headline(summary),
        markdown=report_markdown(summary, stages or {}, quality),
    )
    if track:
        result.mlflow_run_id = _log(settings, result, quality, training, parent_run_id)
    return result


def _log(
    settings: Settings,
    result: ReportResult,
    quality: list[dict[str, Any]],
    training: TrainResult | None,
    parent_run_id: str | None,
) -> str:
    import mlflow

    metrics = summary_metrics(result.summary)
    with stage_run(settings, "report", parent_run_id) as run:
        with tempfile.TemporaryDirectory(prefix="slimline-report-") as tmp:
            folder = Path(tmp)
            (folder / "report.md").write_text(result.markdown)
            plots.plot_clusters(result.summary, folder / "clusters.png")
            if quality:
                plots.plot_quality(quality, folder / "quality.png")
            curves = plots.loss_curves(settings, training)
            if curves:
                plots.plot_losses(curves, folder / "losses.png")
            mlflow.log_artifacts(str(folder), artifact_path="report")
        mlflow.log_dict(result.summary, "served_summary.json")
        mlflow.log_metrics(metrics)
        run_id = run.info.run_id
    if parent_run_id:
        tracking = client(settings)
        for key, value in metrics.items():
            tracking.log_metric(parent_run_id, key, value)
    return run_id
