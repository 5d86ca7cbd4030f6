"""The report's plots (matplotlib, Agg): cluster sizes with their cost share, quality against
the teacher per cluster (base vs adapter), and the loss curves of tonight's adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slimline.config import Settings
from slimline.tasks.report.markdown import QUALITY_METRIC
from slimline.tasks.train.result import TrainResult
from slimline.tracking import client


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


def loss_curves(
    settings: Settings, training: TrainResult | None
) -> dict[str, list[tuple[int, float]]]:
    """{slug: [(step, loss), ...]} of the clusters trained tonight, read back from MLflow."""
    mlflow = client(settings)
    curves = {}
    for entry in training.trained if training is not None else []:
        if entry.run_id:
            history = mlflow.get_metric_history(entry.run_id, "loss")
            curves[entry.slug] = sorted((m.step, m.value) for m in history)
    return curves
