"""What evaluation found: an `EvalReport` per cluster inside an `EvaluateResult`, passed on
to the promotion gate.

One report per trained cluster: the held-out metrics of each model evaluated (`base`,
`challenger`, and `champion` when the registry had one), and the lineage the registry
records with the candidate (train run, base model, dataset digest, distilled-context hash,
data window, nightly run). The last result is kept in the work store for `slimline promote`.
"""

from __future__ import annotations

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
    n_examples: int = 0
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
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
        return f"{self.slug} (n={self.n_examples}): " + "; ".join(parts)


class EvaluateResult(BaseModel):
    """Every evaluated (or skipped) cluster of one evaluation, in order."""

    clusters: list[EvalReport] = Field(default_factory=list)

    @property
    def evaluated(self) -> list[EvalReport]:
        return [r for r in self.clusters if r.evaluated]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
