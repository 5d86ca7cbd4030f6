"""What a cluster run returns: counts for the night, and each cluster for people."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from slimline.tasks.cluster.actions import tasks_text


class ClusterInfo(BaseModel):
    cluster_id: int
    slug: str
    label: str
    keywords: list[str]
    top_tools: list[str]
    stats: dict[str, Any]
    model_version: int
    new: bool = False


class ClusterResult(BaseModel):
    """What a cluster run did: counts for the nightly flow, the clusters for people."""

    calls: int = 0  # scrubbed calls in the work store
    examined: int = 0  # new or unclustered calls looked at tonight
    assigned: int = 0  # calls given a cluster tonight (known or new)
    new_clusters: int = 0
    unclustered: int = 0  # calls in no cluster after tonight
    total_clusters: int = 0
    model_version: int | None = None
    fitted: bool = False  # a fresh BERTopic fit ran tonight
    embedded: int = 0  # texts embedded tonight (the rest came from the cache)
    embedding_cache_hits: int = 0
    timings: dict[str, float] = Field(default_factory=dict)
    clusters: list[ClusterInfo] = Field(default_factory=list)
    model_path: str | None = None
    mlflow_run_id: str | None = None

    def table(self) -> list[dict[str, Any]]:
        """One row per cluster: what the CLI, MLflow and Prefect show."""
        return [
            {
                "cluster_id": c.cluster_id,
                "slug": c.slug,
                "label": c.label,
                "calls": c.stats.get("calls", 0),
                "share_calls": c.stats.get("share_calls", 0.0),
                "share_cost": c.stats.get("share_cost", 0.0),
                "share_tool_calls": c.stats.get("share_tool_calls", 0.0),
                "median_prompt_tokens": c.stats.get("median_prompt_tokens"),
                "median_response_tokens": c.stats.get("median_response_tokens"),
                "tasks": tasks_text(c.stats.get("tasks") or []),
                "new": c.new,
            }
            for c in self.clusters
        ]
