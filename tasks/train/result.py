"""What the train stage returns: a `ClusterTraining` per cluster inside a `TrainResult`.

The nightly flow, the CLI and the evaluate stage read them; `slimline train --json` prints
`model_dump()`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ClusterTraining(BaseModel):
    """One cluster's outcome: `status` is trained, skipped or failed (`reason` says why)."""

    cluster_id: int
    slug: str
    status: str = "pending"
    reason: str = ""
    run_id: str | None = None
    parent_run_id: str | None = None
    base_model: str | None = None
    adapter_uri: str | None = None
    context_hash: str | None = None
    dataset_digest: str | None = None
    train_conversation_ids: list[str] = Field(default_factory=list)
    eval_conversation_ids: list[str] = Field(default_factory=list)
    calls: int = 0
    examples: int = 0
    first_loss: float | None = None
    final_loss: float | None = None
    eval_loss: float | None = None
    eval_loss_before: float | None = None  # the base model's held-out loss
    seconds: float = 0.0
    selection: dict[str, Any] = Field(default_factory=dict)
    race: list[dict[str, Any]] = Field(default_factory=list)  # candidates raced, with scores
    dataset_stats: dict[str, float] = Field(default_factory=dict)
    device: str | None = None


class TrainResult(BaseModel):
    """What the train stage did, cluster by cluster."""

    clusters: list[ClusterTraining] = Field(default_factory=list)
    parent_run_id: str | None = None
    seconds: float = 0.0
    placement: str = ""

    def by_status(self, status: str) -> list[ClusterTraining]:
        return [c for c in self.clusters if c.status == status]

    @property
    def trained(self) -> list[ClusterTraining]:
        return self.by_status("trained")

    def counts(self) -> dict[str, int]:
        return {s: len(self.by_status(s)) for s in ("trained", "skipped", "failed")}
