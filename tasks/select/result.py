"""What select returns: per cluster, the base model(s) it may be fine-tuned from, and why."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Candidate(BaseModel):
    """A base model a cluster may train on."""

    id: str  # catalog id (or the source itself when it is not in the catalog)
    source: str  # hub id, local directory or pkg:PACKAGE/FILE.gguf
    chat_template: str | None = None  # used when the tokenizer has none


class ClusterSelection(BaseModel):
    """One cluster's choice: `candidates[0]` trains; more than one is a race."""

    cluster_id: int
    slug: str
    candidates: list[Candidate] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)  # why the first candidate
    rejected: dict[str, str] = Field(default_factory=dict)  # catalog id -> why not
    error: str | None = None  # why no candidate fits (then `candidates` is empty)

    @property
    def model(self) -> str | None:
        return self.candidates[0].id if self.candidates else None

    @property
    def source(self) -> str | None:
        return self.candidates[0].source if self.candidates else None

    def summary(self) -> dict[str, Any]:
        """Plain data for MLflow (`train/selection.json`) and the train stage's entries."""
        return {
            "model": self.model,
            "source": self.source,
            "candidates": [c.id for c in self.candidates],
            "reasons": self.reasons,
            "rejected": self.rejected,
        }


class SelectResult(BaseModel):
    """Every selected cluster's choice, in cluster order."""

    clusters: list[ClusterSelection] = Field(default_factory=list)

    def for_cluster(self, cluster_id: int) -> ClusterSelection | None:
        return next((c for c in self.clusters if c.cluster_id == cluster_id), None)
