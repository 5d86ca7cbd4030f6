"""The cluster run in MLflow: config, counts, the clusters table, a bar chart, the model.

One run tagged `slimline.stage=cluster` (nested in the active run when there is one, or
under `parent_run_id`): params from the config, counts and phase timings as metrics, the
per-cluster table (`clusters.json`, via mlflow.log_table), a bar chart of each cluster's
share of calls and of cost (`clusters.png`), and the saved BERTopic model (`cluster_model/`).
Only scrubbed text reaches it (labels and keywords come from scrubbed calls).
"""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from slimline.config import Settings
from slimline.tasks.cluster.result import ClusterResult
from slimline.tracking import stage_run


def bar_chart(rows: list[dict[str, Any]], path: Path) -> Path:
    """Horizontal bars: share of calls and share of cost per cluster (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = sorted(rows, key=lambda r: r["share_calls"])
    labels = [f"{r['cluster_id']}: {r['slug']}" for r in rows]
    height = max(2.5, 0.45 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(10, height))
    y = list(range(len(rows)))
    ax.barh([i + 0.2 for i in y], [r["share_calls"] for r in rows], 0.4, label="share of calls")
    ax.barh([i - 0.2 for i in y], [r["share_cost"] for r in rows], 0.4, label="share of cost")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("share of all scrubbed calls, and of what they cost")
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("slimline clusters")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def log_cluster_run(
    settings: Settings, result: ClusterResult, parent_run_id: str | None = None
) -> str:
    """Log the run; returns its MLflow run id."""
    import mlflow
    import pandas as pd

    cfg = settings.cluster
    rows = result.table()
    with stage_run(settings, "cluster", parent_run_id) as run:
        mlflow.log_params(
            {
                "embedding_model": Path(cfg.embedding_model).name,
                "weights": cfg.weights.model_dump_json(),
                "turn_tokens": cfg.turn_tokens,
                "min_cluster_size": cfg.min_cluster_size,
                "min_cluster_fraction": cfg.min_cluster_fraction,
                "n_neighbors": cfg.n_neighbors,
                "n_components": cfg.n_components,
                "same_task_similarity": cfg.same_task_similarity,
                "model_version": result.model_version,
            }
        )
        metrics = {
            "calls": result.calls,
            "examined": result.examined,
            "assigned": result.assigned,
            "new_clusters": result.new_clusters,
            "unclustered": result.unclustered,
            "clusters": result.total_clusters,
            "embedded_texts": result.embedded,
            "embedding_cache_hits": result.embedding_cache_hits,
        }
        metrics.update({f"seconds.{k}": v for k, v in result.timings.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        if rows:
            mlflow.log_table(data=pd.DataFrame(rows), artifact_file="clusters.json")
            with TemporaryDirectory() as tmp:
                mlflow.log_artifact(str(bar_chart(rows, Path(tmp) / "clusters.png")))
        if result.model_path and Path(result.model_path).is_dir():
            mlflow.log_artifacts(result.model_path, artifact_path="cluster_model")
        return run.info.run_id
