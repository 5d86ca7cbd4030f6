"""The train stage over the clusters: plan, train on Ray, log to MLflow, report.

`run_train(settings, cluster_ids=None, selection=None, parent_run_id=None)` is what the
nightly flow, the `train` flow and `slimline train` call (the flows through `train_task`).
For each trainable cluster (at least `train.min_cluster_calls` calls, not UNCLUSTERED) it
1. plans: the conversation split, the base model the select stage chose (selected here when
   no `selection` is given), the dataset on the TRAIN side (plan.py);
2. races the candidates briefly when `select.race_top_k` > 1 and keeps the best;
3. trains one adapter per cluster as a Ray job, all clusters at once (jobs.py);
4. logs a run per cluster in MLflow nested under `parent_run_id`, or under a run of its own
   when none is given (tracking.py), from the driver as each job returns;
and returns a `TrainResult` (result.py): per cluster its status, run, adapter URI, base
model, distilled context hash, dataset digest, the conversation ids of both sides (evaluate
scores exactly the held-out side), losses and time.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from slimline.adapters import adapter_uri
from slimline.config import Settings
from slimline.store import WorkStore, open_work
from slimline.tasks.select.result import SelectResult
from slimline.tasks.train.result import ClusterTraining, TrainResult
from slimline.tracking import mlflow_experiment

log = logging.getLogger(__name__)


def _plans(
    settings: Settings,
    work: WorkStore,
    cluster_ids: list[int] | None,
    selection: SelectResult,
    result: TrainResult,
) -> dict[int, Any]:
    """Plan every wanted cluster; entries of the untrainable ones go straight to `result`."""
    from slimline.tasks.select.stage import select_for_cluster
    from slimline.tasks.train.plan import plan_cluster

    rows = {int(r["cluster_id"]): r for r in work.clusters()}
    members = work.members(unclustered=True)
    wanted = sorted(rows) if cluster_ids is None else [int(c) for c in cluster_ids]
    plans = {}
    for cid in wanted:
        row = rows.get(cid, {"cluster_id": cid, "slug": f"cluster-{cid}"})
        slug = str(row.get("slug") or f"cluster-{cid}")
        if cid not in rows and cid not in members:
            result.clusters.append(
                ClusterTraining(
                    cluster_id=cid, slug=slug, status="skipped", reason="no such cluster"
                )
            )
            continue
        records = work.cluster_calls(cid)
        chosen = selection.for_cluster(cid) or select_for_cluster(settings, row, len(records))
        try:
            plan = plan_cluster(settings, row, records, chosen)
        except Exception as exc:  # one cluster's bad data must not stop the others
            log.exception("cluster %s: planning its training failed", cid)
            entry = ClusterTraining(cluster_id=cid, slug=slug, status="failed")
            entry.reason = f"{type(exc).__name__}: {exc}"[:500]
            result.clusters.append(entry)
            continue
        result.clusters.append(plan.entry)
        if plan.candidates:
            plans[cid] = plan
    return plans


def _race(settings: Settings, plans: dict[int, Any]) -> None:
    """Race the candidates of every cluster that has several; keep each winner first."""
    from slimline.tasks.train import jobs
    from slimline.tasks.train.plan import race_jobs, race_winner

    racing = {cid: p for cid, p in plans.items() if p.races}
    if not racing:
        return
    todo = [(cid, job) for cid, p in racing.items() for job in race_jobs(settings, p)]
    outcomes = jobs.run_jobs([job for _, job in todo], settings)
    for cid, plan in racing.items():
        got = {job.candidate: out for (c, job), out in zip(todo, outcomes, strict=True) if c == cid}
        try:
            best = race_winner(plan, got)
        except RuntimeError as exc:
            plan.entry.status, plan.entry.reason = "failed", str(exc)[:500]
            plan.candidates = []
            continue
        plan.candidates = [best]


def _finish(entry: ClusterTraining, result: Any, error: str | None) -> None:
    if result is None:
        entry.status, entry.reason = "failed", error or "unknown error"
        return
    entry.status = "trained"
    entry.first_loss, entry.final_loss = result.first_loss, result.final_loss
    entry.eval_loss, entry.eval_loss_before = result.eval_loss, result.eval_loss_before
    entry.seconds = round(result.job_seconds, 2)
    entry.device = f"{result.device} x{result.workers} ({result.precision})"


def run_train(
    settings: Settings,
    cluster_ids: list[int] | None = None,
    selection: SelectResult | None = None,
    parent_run_id: str | None = None,
    work: WorkStore | None = None,
) -> TrainResult:
    """Train an adapter per trainable cluster (all clusters when `cluster_ids` is None) on
    the base models of `selection` (chosen here for the clusters it does not cover)."""
    from slimline.tasks.train import jobs, tracking
    from slimline.tasks.train.train import unpack_folder

    started = time.perf_counter()
    work = work if work is not None else open_work(settings)
    result = TrainResult()
    plans = _plans(settings, work, cluster_ids, selection or SelectResult(), result)
    experiment_id = mlflow_experiment(settings)
    own_parent = parent_run_id is None
    if own_parent:
        parent_run_id = tracking.start_parent_run(settings, experiment_id, len(result.clusters))
    result.parent_run_id = parent_run_id
    for entry in result.clusters:
        entry.parent_run_id = parent_run_id

    def on_done(job: Any, outcome: Any, error: str | None) -> None:
        entry = plans[job.cluster_id].entry
        _finish(entry, outcome, error)
        scratch = Path(tempfile.mkdtemp(prefix="slimline-log-"))
        try:
            folder = unpack_folder(outcome.files, scratch) if outcome is not None else None
            entry.run_id = tracking.log_cluster_run(
                settings, experiment_id, parent_run_id, entry, job, outcome, folder
            )
            if outcome is not None:
                entry.adapter_uri = adapter_uri(entry.run_id)
        except Exception as exc:  # a trained adapter that did not reach MLflow is a failure
            log.exception("cluster %s: logging to MLflow failed", job.cluster_id)
            entry.status, entry.reason = "failed", f"MLflow logging failed: {exc}"[:500]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    try:
        if plans:
            with jobs.ray_session(settings):
                _race(settings, plans)
                todo = [p.candidates[0].job for p in plans.values() if p.candidates]
                result.placement = jobs.placement(settings, max(1, len(todo))).describe()
                jobs.run_jobs(todo, settings, on_done=on_done)
    except Exception as exc:  # Ray itself failed (no cluster at the address, too few CPUs)
        log.exception("training on Ray failed")
        for plan in plans.values():
            if plan.entry.status == "pending":
                plan.entry.status = "failed"
                plan.entry.reason = f"Ray: {type(exc).__name__}: {exc}"[:500]
    result.seconds = round(time.perf_counter() - started, 2)
    if own_parent:
        tracking.finish_parent_run(settings, parent_run_id, result.counts(), result.seconds)
    return result
