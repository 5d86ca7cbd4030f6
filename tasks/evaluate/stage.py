"""The evaluate stage over every trained cluster, and where its inputs and outputs live.

- `evaluate_clusters(settings, train_result)`: one EvalReport per cluster of a TrainResult
  (or any list of per-cluster entries with cluster_id, slug, status, run_id, ...); the
  held-out records are the cluster's calls in the entry's eval conversations, or, when the
  entry does not list them, the eval side of `split_by_conversation` (stable by design).
- `latest_train_entries(settings)`: per cluster, its newest finished train run in MLflow
  (tag `slimline.stage=train`): what `slimline evaluate` evaluates.
- `save_reports` / `load_reports`: the last reports, kept in the work store for
  `slimline promote`.
"""

from __future__ import annotations

import logging
from typing import Any

from slimline.config import Settings
from slimline.record import CallRecord
from slimline.store import WorkStore
from slimline.tasks.evaluate.report import STATE_KEY, EvalReport
from slimline.tasks.evaluate.run import evaluate_cluster, field_of
from slimline.tracking import CLUSTER_TAG

log = logging.getLogger(__name__)


def train_entries(train_result: Any) -> list[Any]:
    """The per-cluster entries of a TrainResult (or a list of entries)."""
    if isinstance(train_result, list | tuple):
        return list(train_result)
    for name in ("clusters", "entries", "results", "jobs"):
        value = field_of(train_result, name)
        if value is not None:
            return list(value.values()) if isinstance(value, dict) else list(value)
    raise TypeError(f"cannot read cluster entries from {type(train_result).__name__}")


def cluster_records(work: WorkStore, cluster_id: int) -> list[CallRecord]:
    ids = [c for c, k in work.assignments().items() if k == cluster_id]
    return list(work.iter_scrubbed(ids=ids)) if ids else []


def heldout_records(settings: Settings, entry: Any, records: list[CallRecord]) -> list[CallRecord]:
    """The entry's held-out calls among `records`."""
    held = field_of(entry, "eval_conversations", "eval_conversation_ids", "eval_ids")
    if held is not None:
        held = set(held)
        return [r for r in records if r.conversation_id in held]
    from slimline.tasks.train.dataset import split_by_conversation

    seed = int(getattr(settings.train, "seed", 0) or 0)
    return split_by_conversation(records, settings.train.eval_fraction, seed=seed)[1]


def evaluate_clusters(
    settings: Settings, train_result: Any, work: WorkStore | None = None
) -> list[EvalReport]:
    """An EvalReport per trained cluster (skipped ones say why)."""
    if work is None:
        from slimline.runtime import open_stores

        work = open_stores(settings)[1]
    rows = {int(c["cluster_id"]): c for c in work.clusters()}
    reports = []
    for entry in train_entries(train_result):
        cid = int(field_of(entry, "cluster_id"))
        row = rows.get(cid) or {"cluster_id": cid, "slug": field_of(entry, "slug")}
        records = cluster_records(work, cid)
        held = heldout_records(settings, entry, records)
        try:
            report = evaluate_cluster(settings, row, entry, held)
            if records:  # the data window: every call of the cluster, not only held-out ones
                stamps = sorted(r.timestamp for r in records)
                report.data_window = (stamps[0].isoformat(), stamps[-1].isoformat())
            reports.append(report)
        except Exception as exc:  # one cluster's failure must not hide the others' results
            log.exception("evaluation of cluster %s failed", cid)
            reports.append(
                EvalReport(
                    cluster_id=cid,
                    slug=str(row.get("slug")),
                    status="skipped",
                    reason=f"evaluation failed: {type(exc).__name__}: {exc}",
                    run_id=field_of(entry, "run_id"),
                )
            )
    return reports


def latest_train_entries(settings: Settings) -> list[dict[str, Any]]:
    """Per cluster, its newest finished train run: {cluster_id, slug, status, run_id, ...}."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    exp = client.get_experiment_by_name(settings.tracking.experiment)
    if exp is None:
        return []
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string="tags.`slimline.stage` = 'train' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    latest: dict[int, dict[str, Any]] = {}
    for run in runs:
        tags, params = run.data.tags, run.data.params
        if CLUSTER_TAG not in tags:
            continue
        cid = int(tags[CLUSTER_TAG])
        latest.setdefault(
            cid,
            {
                "cluster_id": cid,
                "slug": tags.get("slimline.slug"),
                "status": "completed",
                "run_id": run.info.run_id,
                "base_model": params.get("base_model") or tags.get("slimline.base_model"),
                "context_hash": tags.get("slimline.context_hash") or params.get("context_hash"),
                "dataset_digest": tags.get("slimline.dataset_digest")
                or params.get("dataset_digest"),
                "parent_run_id": tags.get("mlflow.parentRunId"),
            },
        )
    return [latest[c] for c in sorted(latest)]


def save_reports(work: WorkStore, reports: list[EvalReport]) -> None:
    work.set_state(STATE_KEY, [r.to_dict() for r in reports])


def load_reports(work: WorkStore) -> list[EvalReport]:
    return [EvalReport.from_dict(d) for d in work.get_state(STATE_KEY, []) or []]
