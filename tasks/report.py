"""The night's report: the headline, what each stage did, and plots, in Prefect and MLflow.

The headline is the paper's number measured on the user's own traffic: the share of calls a
promoted SLM now serves, and the estimated cost saved (tasks/promote/summary.py computes
both). The report adds what each stage did tonight and three plots — cluster sizes with
their cost share, quality against the teacher per cluster (base vs adapter), and the loss
curves of tonight's adapters — as a Prefect markdown artifact and a table artifact, and as
the same markdown, PNGs and metrics on the night's MLflow run. Counts and slugs only: no
call content.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from slimline.config import Settings

QUALITY_METRIC = "name_args_accuracy"


def headline(summary: dict[str, Any]) -> str:
    """One sentence: share of calls served and what that saves."""
    return (
        f"{summary['served_share_calls']:.1%} of calls ({summary['served_calls']}) are now "
        f"served by promoted SLMs in {summary['served_clusters']} clusters; estimated saving "
        f"${summary['saved_usd']:.4f} ({summary['saved_share_cost']:.1%} of the teacher's cost)"
    )


def stage_table(stages: dict[str, dict[str, Any]]) -> str:
    """What each stage did, as a markdown table."""
    lines = ["| stage | result |", "|---|---|"]
    for stage, figures in stages.items():
        text = ", ".join(f"{k} {v}" for k, v in figures.items()) or "nothing to do"
        lines.append(f"| {stage} | {text} |")
    return "\n".join(lines)


def report_markdown(
    summary: dict[str, Any], stages: dict[str, dict[str, Any]], quality: list[dict[str, Any]]
) -> str:
    from slimline.tasks.promote.summary import summary_markdown

    parts = [
        f"# slimline nightly report\n\n**{headline(summary)}**",
        "## Tonight",
        stage_table(stages),
    ]
    if quality:
        parts += ["## Quality against the teacher (held-out calls)", quality_table(quality)]
    parts.append(summary_markdown(summary).replace("# What small models serve now", "## Served"))
    return "\n\n".join(parts) + "\n"


def quality_rows(reports: list[Any]) -> list[dict[str, Any]]:
    """Per evaluated cluster: base and adapter (challenger) figures, for the table and plot."""
    rows = []
    for r in reports:
        if not getattr(r, "evaluated", False):
            continue
        rows.append(
            {
                "slug": r.slug,
                "n": r.n_examples,
                **{
                    f"{role}_{name}": r.metric(role, name)
                    for role in ("base", "challenger")
                    for name in (QUALITY_METRIC, "response_type_accuracy", "text_similarity")
                },
            }
        )
    return rows


def quality_table(rows: list[dict[str, Any]]) -> str:
    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.2f}"

    lines = [
        "| cluster | n | name+args base → adapter | type base → adapter | text base → adapter |",
        "|---|---:|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['slug']} | {r['n']} | {f(r['base_' + QUALITY_METRIC])} → "
            f"{f(r['challenger_' + QUALITY_METRIC])} | {f(r['base_response_type_accuracy'])} → "
            f"{f(r['challenger_response_type_accuracy'])} | {f(r['base_text_similarity'])} → "
            f"{f(r['challenger_text_similarity'])} |"
        )
    return "\n".join(lines)


# --- plots -------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_clusters(summary: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    rows = summary["clusters"]
    total_cost = summary["teacher_cost_usd"] or 1.0
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh([i - 0.2 for i in y], [r["share_calls"] for r in rows], 0.4, label="share of calls")
    ax.barh(
        [i + 0.2 for i in y],
        [r["teacher_cost_usd"] / total_cost for r in rows],
        0.4,
        label="share of cost",
    )
    ax.set_yticks(list(y), [r["slug"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share")
    ax.legend()
    ax.set_title("Clusters: calls and teacher cost")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_quality(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(rows) + 1.5))
    y = range(len(rows))
    for offset, role in ((-0.2, "base"), (0.2, "challenger")):
        values = [r[f"{role}_{QUALITY_METRIC}"] or 0.0 for r in rows]
        label = "base model" if role == "base" else "adapter"
        ax.barh([i + offset for i in y], values, 0.4, label=label)
    ax.set_yticks(list(y), [r["slug"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("tool calls: name + arguments exact match vs the teacher")
    ax.legend()
    ax.set_title("Quality against the teacher, held-out calls")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_losses(curves: dict[str, list[tuple[int, float]]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for slug, points in curves.items():
        ax.plot([s for s, _ in points], [v for _, v in points], label=slug, marker=".")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (completion tokens)")
    ax.set_title("Tonight's adapters: loss curves")
    if curves:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curves(settings: Settings, train_result: Any) -> dict[str, list[tuple[int, float]]]:
    """{slug: [(step, loss), ...]} of the clusters trained tonight, read back from MLflow."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    curves = {}
    for entry in getattr(train_result, "trained", []) or []:
        if entry.run_id:
            history = client.get_metric_history(entry.run_id, "loss")
            curves[entry.slug] = sorted((m.step, m.value) for m in history)
    return curves


# --- publishing --------------------------------------------------------------------------
def publish_report(
    settings: Settings,
    run_id: str | None,
    summary: dict[str, Any],
    stages: dict[str, dict[str, Any]],
    reports: list[Any],
    train_result: Any,
) -> str:
    """Write the report to Prefect (markdown + table artifacts) and to the MLflow run `run_id`
    (report.md, plots, headline metrics). Returns the headline."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from slimline.tasks.promote.summary import summary_metrics

    quality = quality_rows(reports)
    markdown = report_markdown(summary, stages, quality)
    create_markdown_artifact(
        markdown=markdown, key="slimline-report", description=headline(summary)
    )
    create_table_artifact(
        table=[
            {
                k: r.get(k)
                for k in (
                    "slug",
                    "label",
                    "calls",
                    "share_calls",
                    "champion",
                    "teacher_cost_usd",
                    "saved_usd",
                )
            }
            for r in summary["clusters"]
        ],
        key="slimline-clusters",
        description="clusters, what they cost, and whether a champion serves them",
    )
    if run_id:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
        with tempfile.TemporaryDirectory(prefix="slimline-report-") as tmp:
            folder = Path(tmp)
            (folder / "report.md").write_text(markdown)
            plot_clusters(summary, folder / "clusters.png")
            if quality:
                plot_quality(quality, folder / "quality.png")
            curves = loss_curves(settings, train_result)
            if curves:
                plot_losses(curves, folder / "losses.png")
            client.log_artifacts(run_id, str(folder), artifact_path="report")
        for key, value in summary_metrics(summary).items():
            client.log_metric(run_id, key, value)
    return headline(summary)
