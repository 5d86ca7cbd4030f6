"""The night's own bookkeeping around the stages: its MLflow parent run, the retraining plan,
what each stage did, and which clusters are done.

Resuming after a crash: collect and scrub resume from their watermarks and clustering
assigns only unassigned calls, so re-running them is cheap. Training and evaluation are
cached on the retraining plan (plan.py: each changed cluster's digest of its calls and the
config; slimline/caching.py), so a re-run of a crashed night reuses what finished and redoes
what did not. Clusters are marked completed only after the gate saw them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from slimline.config import Settings
from slimline.store import open_work
from slimline.tasks.cluster.result import ClusterResult
from slimline.tasks.collect.result import CollectResult
from slimline.tasks.evaluate.result import EvaluateResult
from slimline.tasks.nightly import plan as retrain
from slimline.tasks.nightly.result import NightlyResult, NightRun
from slimline.tasks.promote.result import PromoteResult
from slimline.tasks.report.result import ReportResult
from slimline.tasks.scrub.result import ScrubResult
from slimline.tasks.train.result import TrainResult
from slimline.tracking import NIGHT_TAG, PROFILE_TAG, STAGE_TAG, client, mlflow_experiment


def open_night(settings: Settings) -> NightRun:
    """The night's parent MLflow run (every stage's run nests under it)."""
    now = datetime.now(UTC)
    run = client(settings).create_run(
        mlflow_experiment(settings),
        run_name=f"nightly {now:%Y-%m-%d %H:%M}",
        tags={STAGE_TAG: "nightly", NIGHT_TAG: f"{now:%Y-%m-%d}", PROFILE_TAG: settings.profile},
    )
    return NightRun(run_id=run.info.run_id, started=time.time())


def plan_night(settings: Settings) -> dict[int, str]:
    """{cluster_id: digest} of the clusters to retrain tonight (plan.py)."""
    fingerprint = retrain.config_fingerprint(settings.select, settings.train)
    night = settings.nightly
    return retrain.clusters_to_train(
        open_work(settings),
        fingerprint,
        night.max_clusters,
        night.priority,
        text_served=settings.promote.text_target is not None,
    )


def night_stages(
    collected: CollectResult,
    scrubbed: ScrubResult,
    clustered: ClusterResult,
    plan: dict[int, str],
    training: TrainResult | None,
    evaluation: EvaluateResult | None,
    promotion: PromoteResult | None,
) -> dict[str, dict[str, Any]]:
    """What each stage did tonight: counts only, no call content."""
    return {
        "collect": {
            "sources": len(collected.sources),
            "new": collected.new,
            "duplicates": collected.duplicates,
            "quarantined": collected.quarantined,
            "outside_window": sum(s.outside_window for s in collected.sources),
        },
        "scrub": {"scrubbed": scrubbed.scrubbed, "seconds": scrubbed.seconds},
        "cluster": {
            "examined": clustered.examined,
            "assigned": clustered.assigned,
            "new_clusters": clustered.new_clusters,
            "unclustered": clustered.unclustered,
            "total_clusters": clustered.total_clusters,
        },
        "train": {"planned": len(plan), **(training.counts() if training else {})},
        "evaluate": {"evaluated": len(evaluation.evaluated) if evaluation else 0},
        "promote": {
            "candidates": len(promotion.promotions) if promotion else 0,
            "promoted": len(promotion.promoted) if promotion else 0,
        },
    }


def close_night(
    settings: Settings,
    night: NightRun,
    plan: dict[int, str],
    stages: dict[str, dict[str, Any]],
    training: TrainResult | None,
    evaluation: EvaluateResult | None,
    report: ReportResult,
) -> NightlyResult:
    """Mark the clusters the gate saw (or that are too small to train) as done, log the
    stage figures on the night's run, and end it."""
    evaluated = {r.cluster_id for r in evaluation.evaluated} if evaluation else set()
    skipped = {c.cluster_id for c in training.by_status("skipped")} if training else set()
    done = {cid: digest for cid, digest in plan.items() if cid in evaluated | skipped}
    retrain.mark_completed(open_work(settings), done)
    result = NightlyResult(
        mlflow_run_id=night.run_id,
        nothing_new=stages["collect"]["new"] == 0 and not plan,
        stages=stages,
        headline=report.headline,
        served_share=report.served_share,
        seconds=round(time.time() - night.started, 1),
    )
    mlflow = client(settings)
    for stage, figures in stages.items():
        for key, value in figures.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                mlflow.log_metric(night.run_id, f"{stage}.{key}", float(value))
    mlflow.log_metric(night.run_id, "seconds", result.seconds)
    mlflow.set_tag(night.run_id, "slimline.nothing_new", str(result.nothing_new).lower())
    mlflow.set_terminated(night.run_id, "FINISHED")
    return result


def morning_markdown(result: NightlyResult) -> str:
    """The night in a few lines, for the person who reviews it in the morning."""
    lines = [f"# The night: {result.headline}", ""]
    for stage, figures in result.stages.items():
        text = ", ".join(f"{k} {v}" for k, v in figures.items()) or "nothing to do"
        lines.append(f"- **{stage}**: {text}")
    lines += [
        "",
        f"{result.seconds:.0f} s; MLflow run `{result.mlflow_run_id}` (each stage's run is "
        "nested under it; each trained cluster's run has its loss curve, its coverage curve "
        "and the gate's decision)." + (" Nothing new tonight." if result.nothing_new else ""),
    ]
    return "\n".join(lines) + "\n"
