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
from dataclasses import asdict, dataclass, field
from typing import Any

from slimline.config import Settings
from slimline.tasks.evaluate.adapters import adapter_uri
from slimline.tasks.evaluate.report import EvalReport
from slimline.tasks.promote import registry
from slimline.tasks.promote.gate import Decision, decide
from slimline.tracking import CHAMPION

log = logging.getLogger(__name__)


@dataclass
class Promotion:
    """What happened to one cluster's challenger."""

    cluster_id: int
    slug: str
    model: str
    version: int | None
    promoted: bool
    reasons: list[str]
    previous_champion: int | None = None
    champion: int | None = None  # the champion after this step
    event_id: str | None = None


@dataclass
class PromoteResult:
    """Every cluster's promotion, in order."""

    promotions: list[Promotion] = field(default_factory=list)

    @property
    def promoted(self) -> list[Promotion]:
        return [p for p in self.promotions if p.promoted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "promoted": len(self.promoted),
            "candidates": len(self.promotions),
            "clusters": [asdict(p) for p in self.promotions],
        }


def _champion_metrics(client: Any, report: EvalReport) -> dict[str, float | None] | None:
    """The champion's metrics to compare with: measured beside the challenger when the
    champion then is the champion now, else the metrics tagged on the champion's version."""
    current = registry.version_by_alias(client, report.slug, CHAMPION)
    if current is None:
        return None
    if report.champion_version == int(current.version) and "champion" in report.metrics:
        return report.metrics["champion"]
    prefix = "slimline.metric."
    return {k[len(prefix) :]: float(v) for k, v in current.tags.items() if k.startswith(prefix)}


def version_tags(report: EvalReport, decision: Decision) -> dict[str, Any]:
    tags: dict[str, Any] = {
        "slimline.cluster_id": report.cluster_id,
        "slimline.slug": report.slug,
        "slimline.train_run_id": report.run_id,
        "slimline.base_model": report.base_model,
        "slimline.dataset_digest": report.dataset_digest,
        "slimline.context_hash": report.context_hash,
        "slimline.data_window": "/".join(report.data_window) if report.data_window else "",
        "slimline.nightly_run_id": report.nightly_run_id or "",
        "slimline.n_heldout": report.n_examples,
        "slimline.gate.promote": str(decision.promote).lower(),
        "slimline.gate.reasons": decision.text(),
    }
    for role, metrics in report.metrics.items():
        for name, value in metrics.items():
            if value is None:
                continue
            key = f"slimline.metric.{name}" if role == "challenger" else None
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
            report.cluster_id, report.slug, name, None, False, [f"not evaluated: {report.reason}"]
        )
    registry.ensure_model(client, name, report.cluster_id)
    champion = _champion_metrics(client, report)
    decision = decide(
        report.metrics.get("challenger", {}), champion, report.n_examples, settings.promote
    )
    source = report.adapter_uri or adapter_uri(report.run_id)
    version = registry.register_candidate(
        client, name, report.run_id, source, version_tags(report, decision)
    )
    client.set_tag(report.run_id, "slimline.gate.promote", str(decision.promote).lower())
    client.set_tag(report.run_id, "slimline.model_version", f"{name}/{version}")
    result = Promotion(
        report.cluster_id, report.slug, name, version, decision.promote, decision.reasons
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


def promote_clusters(settings: Settings, reports: list[EvalReport]) -> PromoteResult:
    """Gate and register every evaluated cluster's challenger."""
    client = registry.client_for(settings.mlflow_tracking_uri)
    return PromoteResult([promote_cluster(settings, r, client) for r in reports])


def rollback_cluster(settings: Settings, cluster: str, emit: bool | None = None) -> dict[str, Any]:
    """Move a cluster's champion back to the previous one; announces it like a promotion
    (reason `rollback`) so deployments serve the restored version."""
    client = registry.client_for(settings.mlflow_tracking_uri)
    name = registry.model_for_cluster(client, cluster)
    old, new = registry.rollback(client, name)
    restored = client.get_model_version(name, str(new))
    cluster_id = int(restored.tags.get("slimline.cluster_id", -1))
    event_id = None
    if settings.promote.emit_events if emit is None else emit:
        from slimline.tasks.promote.events import emit_promoted

        event_id = emit_promoted(
            restored.tags.get("slimline.slug", name),
            cluster_id,
            name,
            new,
            payload={"reason": "rollback", "previous_version": old},
        )
    return {"model": name, "from_version": old, "champion": new, "event_id": event_id}
