"""What evaluation found: an `EvalReport` per cluster inside an `EvaluateResult`, passed on
to the promotion gate.

One report per trained cluster: the all-calls metrics of each model evaluated on the test
calls (`base`, `challenger`, and `champion` when the registry had one), the cascade's
figures (the challenger's threshold calibrated on the calibration calls; each model's
coverage and served agreement on the test calls), and the lineage the registry records with
the candidate (train run, base model, dataset digest, distilled-context hash, data window,
nightly run). The last result is kept in the work store for `slimline promote`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

ROLES = ("base", "challenger", "champion")


class EvalReport(BaseModel):
    """Held-out metrics of base, challenger and champion on one cluster."""

    cluster_id: int
    slug: str
    status: str = "evaluated"  # evaluated | skipped
    reason: str = ""  # why it was skipped
    run_id: str | None = None  # the cluster's train run, where the metrics are logged
    adapter_uri: str = ""
    base_model: str = ""
    n_examples: int = 0  # test calls evaluated
    n_calibration: int = 0  # calibration calls evaluated
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    threshold: float | None = None  # the challenger's calibrated confidence threshold
    confidence_signal: str = ""
    calibration: dict[str, Any] = Field(default_factory=dict)  # served, agreement, reason
    # per role: calls, served, coverage, served_agreement, auroc (on the test calls)
    cascade: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    champion_version: int | None = None
    context_hash: str = ""
    dataset_digest: str = ""
    data_window: tuple[str, str] | None = None
    nightly_run_id: str | None = None

    @property
    def evaluated(self) -> bool:
        return self.status == "evaluated"

    def metric(self, role: str, name: str) -> float | None:
        return (self.metrics.get(role) or {}).get(name)

    def summary_line(self) -> str:
        """One line for a person: the cluster and its headline metrics per model."""
        if not self.evaluated:
            return f"{self.slug}: skipped ({self.reason})"
        parts = []
        for role in ROLES:
            if role in self.metrics:
                m = self.metrics[role]
                parts.append(
                    f"{role} name+args {_fmt(m.get('name_args_accuracy'))} "
                    f"type {_fmt(m.get('response_type_accuracy'))} "
                    f"text {_fmt(m.get('text_similarity'))}"
                )
        ours = self.cascade.get("challenger") or {}
        if self.threshold is not None:
            parts.append(
                f"serves {float(ours.get('coverage') or 0):.0%} at "
                f"{_fmt(ours.get('served_agreement'))} agreement (threshold {self.threshold:.3f})"
            )
        else:
            parts.append("serves nothing (no threshold)")
        return f"{self.slug} (n={self.n_examples}): " + "; ".join(parts)


class EvaluateResult(BaseModel):
    """Every evaluated (or skipped) cluster of one evaluation, in order."""

    clusters: list[EvalReport] = Field(default_factory=list)

    @property
    def evaluated(self) -> list[EvalReport]:
        return [r for r in self.clusters if r.evaluated]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
