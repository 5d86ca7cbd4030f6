"""`EvalReport`: what evaluation found for one cluster, passed on to the promotion gate.

One report per trained cluster: the held-out metrics of each model evaluated (`base`,
`challenger`, and `champion` when the registry had one), and the lineage the registry
records with the candidate (train run, base model, dataset digest, distilled-context hash,
data window, nightly run). Reports are plain data: `to_dict`/`from_dict` round-trip them
through JSON (the CLI keeps the last ones in the work store for `slimline promote`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

ROLES = ("base", "challenger", "champion")
STATE_KEY = "evaluate.last_reports"


@dataclass
class EvalReport:
    """Held-out metrics of base, challenger and champion on one cluster."""

    cluster_id: int
    slug: str
    status: str = "evaluated"  # evaluated | skipped
    reason: str = ""  # why it was skipped
    run_id: str | None = None  # the cluster's train run, where the metrics are logged
    adapter_uri: str = ""
    base_model: str = ""
    n_examples: int = 0
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["data_window"] = list(self.data_window) if self.data_window else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if kwargs.get("data_window"):
            kwargs["data_window"] = tuple(kwargs["data_window"])
        return cls(**kwargs)

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


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
