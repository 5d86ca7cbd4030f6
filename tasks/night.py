"""The nightly flow's own tasks: the night's MLflow run, the retraining plan, resumable
training and evaluation, bookkeeping, and the night's result.

Resuming after a crash: collect and scrub resume from their watermarks and clustering
assigns only unassigned calls, so re-running them is cheap. Training and evaluation are
cached (persisted results) under a key made of the retraining plan — each changed cluster's
digest of calls and config, tasks/retrain.py — and the task's source, so a re-run of a
crashed night reuses what finished and redoes what did not. Clusters go into the
`retrain.completed` state only after the gate saw them.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from slimline.config import Settings
from slimline.record import canonical_json

NIGHT_TAG = "slimline.night"


class NightlyResult(BaseModel):
    """What one night did, stage by stage, and the headline."""

    mlflow_run_id: str | None = None
    nothing_new: bool = False
    stages: dict[str, dict[str, Any]] = Field(default_factory=dict)
    headline: str = ""
    seconds: float = 0.0


def _source_hash(fn: Any) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:12]


def _plan_key(name: str, fn: Any) -> Any:
    def key(_context: Any, parameters: dict[str, Any]) -> str:
        plan = {str(k): v for k, v in (parameters.get("plan") or {}).items()}
        digest = hashlib.sha256(canonical_json(plan).encode()).hexdigest()[:24]
        return f"slimline-{name}-{digest}-{_source_hash(fn)}"

    return key


# --- the night's MLflow run ------------------------------------------------------------
@task(name="open-night", cache_policy=NO_CACHE)
def open_night(settings: Settings) -> str:
    """The night's parent MLflow run (every stage's runs nest under it); returns its id."""
    from mlflow import MlflowClient

    from slimline.runtime import mlflow_experiment

    experiment_id = mlflow_experiment(settings)
    night = datetime.now(UTC).strftime("%Y-%m-%d")
    run = MlflowClient(tracking_uri=settings.mlflow_tracking_uri).create_run(
        experiment_id,
        run_name=f"nightly-{datetime.now(UTC):%Y%m%d-%H%M%S}",
        tags={"slimline.stage": "nightly", NIGHT_TAG: night, "slimline.profile": settings.profile},
    )
    return run.info.run_id


@task(name="close-night", cache_policy=NO_CACHE)
def close_night(settings: Settings, run_id: str, result: NightlyResult) -> None:
    """Stage figures as metrics on the night's run, then end it."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    for stage, figures in result.stages.items():
        for key, value in figures.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                client.log_metric(run_id, f"{stage}.{key}", float(value))
    client.log_metric(run_id, "seconds", result.seconds)
    client.set_tag(run_id, "slimline.nothing_new", str(result.nothing_new).lower())
    client.set_terminated(run_id, "FINISHED")


# --- stages the nightly flow runs through their pure functions ----------------------------
@task(name="scrub-new-calls", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def scrub_new(settings: Settings) -> Any:
    """Scrub what is new in the raw store (resumes after the last scrubbed raw row)."""
    from slimline.tasks.scrub.run import scrub_new_calls

    return scrub_new_calls(settings)


@task(name="cluster-new-calls", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def cluster_new(settings: Settings) -> Any:
    """Assign new scrubbed calls to known clusters, and find new clusters among the rest."""
    from slimline.tasks.cluster.run import cluster_calls

    return cluster_calls(settings)


@task(name="plan-training", cache_policy=NO_CACHE)
def plan_training(settings: Settings) -> dict[int, str]:
    """{cluster_id: digest} of the clusters to retrain tonight (tasks/retrain.py)."""
    from slimline.runtime import open_stores
    from slimline.tasks.retrain import clusters_to_train, config_fingerprint

    work = open_stores(settings)[1]
    fingerprint = config_fingerprint(settings.select, settings.train)
    return clusters_to_train(work, fingerprint, settings.nightly.max_clusters)


def _train(settings: Settings, plan: dict[int, str], parent_run_id: str | None) -> Any:
    from slimline.tasks.train.stage import train_clusters

    return train_clusters(settings, sorted(plan), parent_run_id)


def _evaluate(settings: Settings, plan: dict[int, str], train_result: Any) -> list[Any]:
    from slimline.runtime import open_stores
    from slimline.tasks.evaluate.stage import evaluate_clusters, save_reports

    work = open_stores(settings)[1]
    reports = evaluate_clusters(settings, train_result, work)
    save_reports(work, reports)
    return reports


train_planned = task(
    name="train-planned-clusters",
    cache_key_fn=_plan_key("train", _train),
    persist_result=True,
)(_train)

evaluate_planned = task(
    name="evaluate-planned-clusters",
    cache_key_fn=_plan_key("evaluate", _evaluate),
    persist_result=True,
)(_evaluate)


@task(name="promote-evaluated", cache_policy=NO_CACHE)
def promote_evaluated(settings: Settings, reports: list[Any]) -> Any:
    """The gate, per evaluated cluster (re-promoting a run reuses its registered version)."""
    from slimline.tasks.promote.run import promote_clusters

    return promote_clusters(settings, reports)


@task(name="mark-completed", cache_policy=NO_CACHE)
def mark_completed(
    settings: Settings, plan: dict[int, str], train_result: Any, reports: list[Any]
) -> list[int]:
    """Remember the clusters the gate saw, or that are too small to train, as done."""
    from slimline.runtime import open_stores
    from slimline.tasks.retrain import mark_completed as remember

    evaluated = {r.cluster_id for r in reports if r.evaluated}
    skipped = {c.cluster_id for c in getattr(train_result, "clusters", []) if c.status == "skipped"}
    done = {cid: digest for cid, digest in plan.items() if cid in evaluated | skipped}
    remember(open_stores(settings)[1], done)
    return sorted(done)


# --- the night's figures -----------------------------------------------------------------
def _figures(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    data = obj.model_dump() if hasattr(obj, "model_dump") else getattr(obj, "__dict__", {})
    return {n: data[n] for n in names if isinstance(data.get(n), int | float)}


@task(name="night-figures", cache_policy=NO_CACHE)
def night_figures(
    collected: list[Any],
    scrubbed: Any,
    clustered: Any,
    plan: dict[int, str],
    train_result: Any,
    reports: list[Any],
    promoted: Any,
    started: float,
) -> NightlyResult:
    """Counts per stage (no call content) and whether the night found nothing new."""
    new_calls = sum(c.new for c in collected)
    stages: dict[str, dict[str, Any]] = {
        "collect": {
            "sources": len(collected),
            "new": new_calls,
            "duplicates": sum(c.duplicates for c in collected),
            "quarantined": sum(c.quarantined for c in collected),
            "outside_window": sum(c.outside_window for c in collected),
        },
        "scrub": _figures(scrubbed, ("scrubbed", "seconds")),
        "cluster": _figures(
            clustered, ("examined", "assigned", "new_clusters", "unclustered", "total_clusters")
        ),
        "train": {"planned": len(plan), **(train_result.counts() if train_result else {})},
        "evaluate": {"evaluated": sum(1 for r in reports if r.evaluated)},
        "promote": {
            "candidates": len(getattr(promoted, "promotions", []) or []),
            "promoted": len(getattr(promoted, "promoted", []) or []),
        },
    }
    return NightlyResult(
        nothing_new=new_calls == 0 and not plan,
        stages=stages,
        seconds=round(time.perf_counter() - started, 1),
    )


@task(name="night-report", cache_policy=NO_CACHE)
def night_report(
    settings: Settings, run_id: str, result: NightlyResult, reports: list[Any], train_result: Any
) -> str:
    """The report (tasks/report.py) in Prefect and on the night's MLflow run; the headline."""
    from slimline.runtime import open_stores
    from slimline.tasks.promote.summary import served_summary
    from slimline.tasks.report import publish_report

    summary = served_summary(settings, open_stores(settings)[1])
    return publish_report(settings, run_id, summary, result.stages, reports, train_result)
