"""The evaluate stage over the trained clusters, and where its inputs and outputs live.

- `run_evaluate(settings, training)`: an EvalReport per cluster of a TrainResult (default:
  each cluster's newest finished train run in MLflow, `latest_training`). The held-out calls
  are the cluster's calls in the held-out conversations of the split by conversation
  (slimline/split.py), which puts every conversation on the same side on every night, so
  the split needs no bookkeeping: the calls evaluated are never calls the adapter trained
  on. They are split again into calibration and test calls (`evaluate.calibration_share`).
- The result is kept in the work store (`save_evaluation` / `load_evaluation`) for
  `slimline promote`.
"""

from __future__ import annotations

import logging

from slimline.config import Settings
from slimline.split import split_three
from slimline.store import WorkStore, open_work
from slimline.tasks.evaluate.cluster import evaluate_cluster
from slimline.tasks.evaluate.result import EvalReport, EvaluateResult
from slimline.tasks.train.result import ClusterTraining, TrainResult
from slimline.tracking import (
    BASE_MODEL_TAG,
    CLUSTER_TAG,
    CONTEXT_HASH_TAG,
    DATASET_DIGEST_TAG,
    PARENT_TAG,
    SLUG_TAG,
    STAGE_TAG,
    client,
)

log = logging.getLogger(__name__)

STATE_KEY = "evaluate.last_result"


def run_evaluate(
    settings: Settings,
    training: TrainResult | None = None,
    *,
    work: WorkStore | None = None,
    parent_run_id: str | None = None,
) -> EvaluateResult:
    """An EvalReport per cluster of `training` (skipped ones say why). The metrics are logged
    into each cluster's train run (already under the night's run), so `parent_run_id` is
    unused. The result is saved in the work store for `slimline promote`."""
    work = work if work is not None else open_work(settings)
    training = training if training is not None else latest_training(settings)
    rows = {int(c["cluster_id"]): c for c in work.clusters()}
    result = EvaluateResult()
    for entry in training.clusters:
        cid = entry.cluster_id
        row = rows.get(cid) or {"cluster_id": cid, "slug": entry.slug}
        records = work.cluster_calls(cid)
        _, calibration, test = split_three(
            records,
            settings.train.eval_fraction,
            settings.evaluate.calibration_share,
            seed=settings.train.seed,
        )
        try:
            report = evaluate_cluster(settings, row, entry, calibration, test)
            if records:  # the data window: every call of the cluster, not only held-out ones
                report.data_window = (records[0].timestamp.isoformat(),
                                      records[-1].timestamp.isoformat())  # fmt: skip
        except Exception as exc:  # one cluster's failure must not hide the others' results
            log.exception("evaluation of cluster %s failed", cid)
            report = EvalReport(
                cluster_id=cid,
                slug=str(row.get("slug")),
                status="skipped",
                reason=f"evaluation failed: {type(exc).__name__}: {exc}",
                run_id=entry.run_id,
            )
        result.clusters.append(report)
    save_evaluation(work, result)
    return result


def latest_training(settings: Settings) -> TrainResult:
    """Per cluster, its newest finished train run in MLflow, as the train stage's result."""
    mlflow = client(settings)
    exp = mlflow.get_experiment_by_name(settings.tracking.experiment)
    if exp is None:
        return TrainResult()
    runs = mlflow.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{STAGE_TAG}` = 'train' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    latest: dict[int, ClusterTraining] = {}
    for run in runs:
        tags = run.data.tags
        if CLUSTER_TAG not in tags:
            continue
        cid = int(tags[CLUSTER_TAG])
        latest.setdefault(
            cid,
            ClusterTraining(
                cluster_id=cid,
                slug=tags.get(SLUG_TAG) or f"cluster-{cid}",
                status="trained",
                run_id=run.info.run_id,
                base_model=tags.get(BASE_MODEL_TAG) or run.data.params.get("base_model"),
                context_hash=tags.get(CONTEXT_HASH_TAG),
                dataset_digest=tags.get(DATASET_DIGEST_TAG),
                parent_run_id=tags.get(PARENT_TAG),
            ),
        )
    return TrainResult(clusters=[latest[c] for c in sorted(latest)])


def save_evaluation(work: WorkStore, result: EvaluateResult) -> None:
    work.set_state(STATE_KEY, result.model_dump(mode="json"))


def load_evaluation(work: WorkStore) -> EvaluateResult:
    """The last evaluation (empty when there was none)."""
    data = work.get_state(STATE_KEY)
    return EvaluateResult.model_validate(data) if data else EvaluateResult()
