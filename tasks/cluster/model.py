"""The BERTopic model: fitting (UMAP + HDBSCAN), merging groups into tasks, save and load.

A fit runs BERTopic on the calls' signature embeddings: UMAP reduces them (with exact
nearest neighbours computed here for up to `exact_knn_max` calls, pynndescent above),
HDBSCAN finds dense groups and leaves outliers as -1. Groups whose centres are at least
`same_task_similarity` alike (cosine, in the full embedding space) are then merged into one
task with BERTopic's `merge_topics`, so a task is as coarse as the config says, not as fine
as the densest corner of the data. c-TF-IDF over the latest turns gives the keywords.

Models are saved with safetensors (topic embeddings, c-TF-IDF, config; no UMAP/HDBSCAN), so
a loaded model assigns a call to the topic whose centre is nearest (`assign`).
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from slimline.tasks.cluster.config import ClusterConfig

log = logging.getLogger("slimline.cluster")

# words of JSON tool results and chat filler that say nothing about the task
EXTRA_STOP_WORDS = {
    "true", "false", "null", "none", "id", "ids", "user", "tool", "returned", "hi", "hello",
    "thanks", "thank", "yes", "ok", "okay", "sure", "great", "just", "like", "let", "know",
    "conversation", "start", "need", "want", "help", "please", "sorry", "assistant",
    "result", "get", "im", "ive", "dont", "didnt", "thats", "whats", "youre", "ill", "able",
    "right", "got", "does", "did", "good", "perfect", "absolutely", "actually", "really",
}  # fmt: skip


def record(timings: dict[str, float], key: str, wall: float, cpu: float) -> None:
    """Add the wall and CPU seconds since (`wall`, `cpu`) to `timings[key]`, `[key_cpu]`."""
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - wall
    timings[f"{key}_cpu"] = timings.get(f"{key}_cpu", 0.0) + time.process_time() - cpu


def min_cluster_size(cfg: ClusterConfig, n: int) -> int:
    """HDBSCAN's min_cluster_size for `n` calls: the configured floor or a share of the calls."""
    return max(cfg.min_cluster_size, int(cfg.min_cluster_fraction * n))


def can_fit(cfg: ClusterConfig, n: int, size: int | None = None) -> bool:
    """Enough calls for UMAP's neighbourhoods and at least two HDBSCAN groups of `size`."""
    return n > cfg.n_neighbors and n >= 2 * (size or min_cluster_size(cfg, n))


def exact_knn(x: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine distance of unit rows (self first), in chunks."""
    n = len(x)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, chunk):
        sims = x[start : start + chunk] @ x.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = 2.0  # a point is its own nearest neighbour
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        idx[start : start + chunk] = np.take_along_axis(part, order, axis=1)
        best = np.take_along_axis(top, order, axis=1)
        dist[start : start + chunk] = np.clip(1.0 - best, 0.0, 2.0)
    dist[:, 0] = 0.0
    return idx, dist


def _timed_bertopic(timings: dict[str, float]) -> type:
    """BERTopic that times its reduce and cluster phases into `timings`."""
    from bertopic import BERTopic

    class TimedBERTopic(BERTopic):
        def _reduce_dimensionality(self, *args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return super()._reduce_dimensionality(*args, **kwargs)
            finally:
                record(timings, "reduce", wall, cpu)

        def _cluster_embeddings(self, *args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return super()._cluster_embeddings(*args, **kwargs)
            finally:
                record(timings, "cluster", wall, cpu)

    return TimedBERTopic


def _vectorizer(n_docs: int) -> Any:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    return CountVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | EXTRA_STOP_WORDS),
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b",  # words, not numbers or ids
        ngram_range=(1, 2),
        min_df=1,  # fitted on one joined document per topic: a topic of its own is no noise
    )


def build(cfg: ClusterConfig, embeddings: np.ndarray, timings: dict[str, float], size: int) -> Any:
    """An unfitted BERTopic for these embeddings, UMAP's neighbours already computed if exact;
    HDBSCAN's smallest group is `size` calls."""
    from hdbscan import HDBSCAN
    from umap import UMAP

    n = len(embeddings)
    k = min(cfg.n_neighbors, n - 1)
    knn = None
    if n <= cfg.exact_knn_max:
        wall, cpu = time.perf_counter(), time.process_time()
        idx, dist = exact_knn(embeddings, k)
        knn = (idx, dist, None)
        record(timings, "reduce", wall, cpu)
    umap = UMAP(
        n_neighbors=k,
        n_components=cfg.n_components,
        min_dist=cfg.min_dist,
        metric="cosine",
        n_epochs=cfg.n_epochs,
        random_state=cfg.seed,
        low_memory=cfg.low_memory,
        precomputed_knn=knn or (None, None, None),
        verbose=False,
    )
    hdbscan = HDBSCAN(
        min_cluster_size=size,
        min_samples=cfg.min_samples or min(size, 5),
        cluster_selection_epsilon=cfg.cluster_selection_epsilon,
        cluster_selection_method=cfg.cluster_selection_method,
        metric="euclidean",
        prediction_data=False,
        core_dist_n_jobs=1,
    )
    return _timed_bertopic(timings)(
        umap_model=umap,
        hdbscan_model=hdbscan,
        vectorizer_model=_vectorizer(n),
        top_n_words=cfg.keywords,
        calculate_probabilities=False,
        verbose=False,
    )


def task_groups(centres: np.ndarray, similarity: float) -> list[list[int]]:
    """Indices of `centres` grouped so that groups' centres are `similarity` alike (average)."""
    if len(centres) < 2:
        return [[i] for i in range(len(centres))]
    from sklearn.cluster import AgglomerativeClustering

    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=1 - similarity
    ).fit_predict(centres)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return sorted(groups.values())


def fit(
    cfg: ClusterConfig,
    docs: list[str],
    embeddings: np.ndarray,
    timings: dict[str, float],
    size: int | None = None,
) -> tuple[Any, np.ndarray]:
    """Fit a topic model; returns it and each call's topic (-1: outlier), groups merged.

    Calls with the same signature vector are fitted once (a run of identical signatures
    would be a zero-distance clump that UMAP tears off as its own island) and share their
    topic. `size` is HDBSCAN's smallest group (default: sized for the distinct signatures);
    a later night fitting only the leftover calls sizes it for all the calls, so leftovers
    do not turn into crumbs."""
    _, first, inverse = np.unique(embeddings, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # distinct rows in the order they first appear
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    keep = first[order]
    inverse = rank[np.asarray(inverse).reshape(-1)]
    docs_u, emb_u = [docs[i] for i in keep], embeddings[keep]
    model = build(cfg, emb_u, timings, size or min_cluster_size(cfg, len(emb_u)))
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        # UMAP's notes on precomputed neighbours, random_state and disconnected groups of
        # calls (different agents): expected here, and nothing a user can act on
        warnings.filterwarnings("ignore", category=UserWarning, module=r"umap\.")
        topics = np.asarray(model.fit_transform(docs_u, emb_u)[0])
    record(timings, "fit", wall, cpu)
    known = sorted(t for t in set(topics.tolist()) if t >= 0)
    if len(known) > 1:
        centres = np.stack([emb_u[topics == t].mean(axis=0) for t in known])
        groups = [[known[i] for i in g] for g in task_groups(centres, cfg.same_task_similarity)]
        merges = [g for g in groups if len(g) > 1]
        if merges:
            wall, cpu = time.perf_counter(), time.process_time()
            model.merge_topics(docs_u, merges)
            record(timings, "merge", wall, cpu)
            topics = np.asarray(model.topics_)
    return model, topics[inverse]


def keywords(model: Any, topic: int, limit: int) -> list[str]:
    words = model.get_topic(topic) or []
    return [w for w, score in words if w and score > 0][:limit]


def topic_embeddings(model: Any) -> dict[int, np.ndarray]:
    """{topic: centre} of the model's topics, outliers left out."""
    rows = np.asarray(model.topic_embeddings_, dtype=np.float32)
    offset = int(getattr(model, "_outliers", 0))
    return {i - offset: rows[i] for i in range(len(rows)) if i - offset >= 0}


def save(model: Any, path: Path, embedding_source: str) -> None:
    """Save with safetensors (topic embeddings, c-TF-IDF, config), the embedding model by name."""
    path.mkdir(parents=True, exist_ok=True)
    model.save(
        str(path),
        serialization="safetensors",
        save_ctfidf=getattr(model, "c_tf_idf_", None) is not None,
        save_embedding_model=embedding_source,
    )


def load(path: Path, encoder: Any = None) -> Any:
    """A saved model; `encoder` (a SentenceTransformer) is handed back to it when given."""
    from bertopic import BERTopic

    return BERTopic.load(str(path), embedding_model=encoder)


def assign(model: Any, docs: list[str], embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(topic, similarity) of each call under a loaded model: the nearest topic centre."""
    if len(docs) == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=np.float32)
    topics, sims = model.transform(docs, embeddings)
    return np.asarray(topics, dtype=int), np.asarray(sims, dtype=np.float32)
