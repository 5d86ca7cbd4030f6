"""Promotion of evaluated adapters: register each as a version, let the gate decide, move
the aliases, announce a new champion.

For each evaluated cluster: the registered model (the slug) gets a version for the
challenger's adapter with its metrics, the gate's decision and reasons and its lineage as
tags; `challenger` moves to it; on a pass `champion` moves to it (the one it replaces
becomes `previous-champion`) and the Prefect event `slimline.adapter.promoted` is emitted.
The decision is also tagged on the cluster's train run.
"""

from __future__ import annotations

import logging
from typing import Any

from slimline.adapters import adapter_uri
from slimline.config import Settings
from slimline.tasks.evaluate.result import EvalReport, EvaluateResult
from slimline.tasks.promote import registry
from slimline.tasks.promote.gate import Decision, decide
from slimline.tasks.promote.result import PromoteResult, Promotion
from slimline.tracking import (
    BASE_MODEL_TAG,
    CHAMPION,
    CLUSTER_TAG,
    CONTEXT_HASH_TAG,
    COVERAGE_TAG,
    DATASET_DIGEST_TAG,
    GATE_PROMOTE_TAG,
    GATE_REASONS_TAG,
    METRIC_TAG_PREFIX,
    MODEL_VERSION_TAG,
    SERVED_AGREEMENT_TAG,
    SIGNAL_TAG,
    SLUG_TAG,
    THRESHOLD_TAG,
)

log = logging.getLogger(__name__)


def _champion_cascade(client: Any, report: EvalReport) -> dict[str, float | None] | None:
    """What the champion serves, to compare with: measured beside the challenger on the same
    test calls when the champion then is the champion now, else its tagged figures."""
    current = registry.version_by_alias(client, report.slug, CHAMPION)
    if current is None:
        return None
    if report.champion_version == int(current.version) and "champion" in report.cascade:
        return report.cascade["champion"]
    tags = current.tags
    return {
        "coverage": float(tags.get(COVERAGE_TAG) or 0.0),
        "served_agreement": float(tags[SERVED_AGREEMENT_TAG])
        if tags.get(SERVED_AGREEMENT_TAG)
        else None,
    }


def decision_line(report: EvalReport, decision: Decision) -> str:
    """The decision in one line, for the registered version's description."""
    ours = report.cascade.get("challenger") or {}
    coverage, agreement = float(ours.get("coverage") or 0.0), ours.get("served_agreement")
    what = f"serves {coverage:.0%} of {report.n_examples} test calls"
    if agreement is not None:
        what += f" at {agreement:.2f} agreement"
    threshold = (
        f"threshold {report.threshold:.3f}" if report.threshold is not None else "no threshold"
    )
    verdict = "promoted" if decision.promote else "kept out"
    return f"{verdict}: {what}; {threshold}"


def version_tags(report: EvalReport, decision: Decision) -> dict[str, Any]:
    tags: dict[str, Any] = {
        CLUSTER_TAG: report.cluster_id,
        SLUG_TAG: report.slug,
        "slimline.train_run_id": report.run_id,
        BASE_MODEL_TAG: report.base_model,
        DATASET_DIGEST_TAG: report.dataset_digest,
        CONTEXT_HASH_TAG: report.context_hash,
        "slimline.data_window": "/".join(report.data_window) if report.data_window else "",
        "slimline.nightly_run_id": report.nightly_run_id or "",
        "slimline.n_heldout": report.n_examples,
        GATE_PROMOTE_TAG: str(decision.promote).lower(),
        GATE_REASONS_TAG: decision.text(),
        SIGNAL_TAG: report.confidence_signal,
    }
    ours = report.cascade.get("challenger") or {}
    if report.threshold is not None:
        tags[THRESHOLD_TAG] = f"{report.threshold:.6g}"
    tags[COVERAGE_TAG] = f"{float(ours.get('coverage') or 0.0):.6g}"
    if ours.get("served_agreement") is not None:
        tags[SERVED_AGREEMENT_TAG] = f"{ours['served_agreement']:.6g}"
    for role, metrics in report.metrics.items():
        for name, value in metrics.items():
            if value is None:
                continue
            key = f"{METRIC_TAG_PREFIX}{name}" if role == "challenger" else None
            if key:
                tags[key] = f"{value:.6g}"
            tags[f"slimline.{role}.{name}"] = f"{value:.6g}"
    return tags


def promote_cluster(settings: Settings, report: EvalReport, client: Any = None) -> Promotion:
    """Register `report`'s challenger, apply the gate, move the aliases."""
    client = client or registry.client_for(settings.mlflow_tracking_uri)
    name = report.slug
    if not report.evaluated or not report.run_id:
        return Promotion(
            cluster_id=report.cluster_id,
            slug=report.slug,
            model=name,
            promoted=False,
            reasons=[f"not evaluated: {report.reason}"],
        )
    registry.ensure_model(client, name, report.cluster_id)
    decision = decide(report, _champion_cascade(client, report), settings.promote)
    source = report.adapter_uri or adapter_uri(report.run_id)
    version = registry.register_candidate(
        client, name, report.run_id, source, version_tags(report, decision)
    )
    client.update_model_version(name, str(version), description=decision_line(report, decision))
    client.set_tag(report.run_id, GATE_PROMOTE_TAG, str(decision.promote).lower())
    client.set_tag(report.run_id, MODEL_VERSION_TAG, f"{name}/{version}")
    result = Promotion(
        cluster_id=report.cluster_id,
        slug=report.slug,
        model=name,
        version=version,
        promoted=decision.promote,
        reasons=decision.reasons,
    )
    serving = registry.version_by_alias(client, name, CHAMPION)
    if decision.promote and serving is not None and int(serving.version) == version:
        result.promoted = False  # nothing changes: no new champion, no event
        result.reasons = [*decision.reasons, f"v{version} is already the champion"]
    if result.promoted:
        result.previous_champion = registry.make_champion(client, name, version)
        if settings.promote.emit_events:
            from slimline.tasks.promote.events import emit_promoted

            result.event_id = emit_promoted(
                report.slug,
                report.cluster_id,
                name,
                version,
                payload={
                    "reason": "gate",
                    "previous_version": result.previous_champion,
                    "run_id": report.run_id,
                    "metrics": report.metrics.get("challenger", {}),
                    "threshold": report.threshold,
                    "coverage": (report.cascade.get("challenger") or {}).get("coverage"),
                },
            )
    current = registry.version_by_alias(client, name, CHAMPION)
    result.champion = int(current.version) if current is not None else None
    log.info(
        "%s v%s: %s (%s)",
        name,
        version,
        "promoted" if decision.promote else "kept out",
        decision.text(),
    )
    return result


def run_promote(
    settings: Settings,
    evaluation: EvaluateResult,
    parent_run_id: str | None = None,
) -> PromoteResult:
    """Gate and register every evaluated cluster's challenger. The decisions go onto the
    registered versions and the clusters' train runs (already under the night's run), so
    `parent_run_id` is unused."""
    client = registry.client_for(settings.mlflow_tracking_uri)
    return PromoteResult(
        promotions=[promote_cluster(settings, r, client) for r in evaluation.clusters]
    )


def rollback_cluster(settings: Settings, cluster: str, emit: bool | None = None) -> dict[str, Any]:
    """Move a cluster's champion back to the previous one; announces it like a promotion
    (reason `rollback`) so deployments serve the restored version."""
    client = registry.client_for(settings.mlflow_tracking_uri)
    name = registry.model_for_cluster(client, cluster)
    old, new = registry.rollback(client, name)
    restored = client.get_model_version(name, str(new))
    cluster_id = int(restored.tags.get(CLUSTER_TAG, -1))
    event_id = None
    if settings.promote.emit_events if emit is None else emit:
        from slimline.tasks.promote.events import emit_promoted

        event_id = emit_promoted(
            restored.tags.get(SLUG_TAG, name),
            cluster_id,
            name,
            new,
            payload={"reason": "rollback", "previous_version": old},
        )
    return {"model": name, "from_version": old, "champion": new, "event_id": event_id}
