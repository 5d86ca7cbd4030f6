"""`run_cluster`: the cluster stage over the work store, with cluster ids stable across nights.

A night reads the scrubbed calls (nothing else), and:
1. keeps every call already in a cluster where it is (ids never move or get renumbered);
2. assigns the new and the still-unclustered calls to the nearest known cluster with the
   saved model (BERTopic loaded from safetensors), when they are as close to its centre as
   the cluster's own calls were (`assign_quantile`);
3. fits a fresh model on what is left, when there is enough of it: groups as close as
   `same_task_similarity` to a known cluster join it, the others become clusters with NEW
   ids; the saved model and the new one are merged (`BERTopic.merge_models`) into the next
   model version, saved under $SLIMLINE_HOME/models/cluster/v<n>; the calls still left
   then meet step 2's rule under that version, so a night is a fixed point: the next one,
   with nothing new, moves no call (and retrains nothing);
4. refreshes every cluster's stats, writes clusters and assignments, and (by default) logs
   the run to MLflow (tasks/cluster/tracking.py).

The mapping from a model version's topics to stable cluster ids, and each cluster's
similarity floor, live in the work store's `work_state` under "cluster.model".
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from slimline.config import Settings
from slimline.store.schema import UNCLUSTERED
from slimline.tasks.cluster import describe
from slimline.tasks.cluster import model as topic_model
from slimline.tasks.cluster.embed import Embedder, resolve_model
from slimline.tasks.cluster.model import record
from slimline.tasks.cluster.read import iter_calls
from slimline.tasks.cluster.result import ClusterInfo, ClusterResult
from slimline.tasks.cluster.signature import CallFacts, Signature
from slimline.tasks.cluster.tracking import log_cluster_run

if TYPE_CHECKING:
    from slimline.store import WorkStore

log = logging.getLogger("slimline.cluster")

STATE_KEY = "cluster.model"


class ClusterConfigChanged(RuntimeError):
    """The embedding settings differ from those the saved clusters were found with."""


def embedding_spec(settings: Settings) -> dict[str, Any]:
    cfg = settings.cluster
    return {"model": cfg.embedding_model, "weights": cfg.weights.model_dump()}


def _read_calls(
    work: WorkStore, settings: Settings, previous: dict[str, int]
) -> tuple[list[CallFacts], list[Signature], list[CallFacts]]:
    """(facts of every call, signatures and facts of the calls to assign tonight)."""
    cfg = settings.cluster
    every, sigs, pending = [], [], []
    wanted = lambda call_id: previous.get(call_id, UNCLUSTERED) == UNCLUSTERED  # noqa: E731
    for fact, sig in iter_calls(work, cfg, wanted):
        every.append(fact)
        if sig is not None:
            sigs.append(sig)
            pending.append(fact)
    return every, sigs, pending


def _floors(
    topics: np.ndarray, embeddings: np.ndarray, centres: dict[int, np.ndarray], quantile: float
) -> dict[int, float]:
    """{topic: the similarity a call needs to join it}: a low quantile of its own calls'."""
    out = {}
    for topic, centre in centres.items():
        members = embeddings[topics == topic]
        if len(members):
            sims = members @ (centre / max(np.linalg.norm(centre), 1e-12))
            out[topic] = float(np.quantile(sims, quantile))
    return out


def _assign_known(
    model: Any,
    idx: np.ndarray,
    docs: list[str],
    vectors: np.ndarray,
    mapping: dict[int, int],
    floors: dict[int, float],
    chosen: np.ndarray,
    score: np.ndarray,
) -> None:
    """Give the calls at `idx` the known cluster of their nearest topic under a saved
    `model`, where they are as close to it as its floor asks; the rest stay as they are."""
    topics, sims = topic_model.assign(model, [docs[i] for i in idx], vectors[idx])
    for i, topic, sim in zip(idx, topics, sims, strict=True):
        cid = mapping.get(int(topic))
        if cid is not None and sim >= floors.get(cid, 1.0):
            chosen[i], score[i] = cid, sim


def _cluster_ids(work: WorkStore) -> list[int]:
    return [int(r["cluster_id"]) for r in work.clusters()]


def _merged_topic_ids(merged: Any, new_model: Any, old_rows: int) -> dict[int, int]:
    """{new model's topic: merged model's topic} for the topics merge_models appended."""
    merged_rows = np.asarray(merged.topic_embeddings_, dtype=np.float32)
    out = {}
    for topic, row in topic_model.topic_embeddings(new_model).items():
        for i in range(old_rows, len(merged_rows)):
            if np.allclose(merged_rows[i], row, atol=1e-6):
                out[topic] = i - int(getattr(merged, "_outliers", 0))
    return out


def run_cluster(
    settings: Settings,
    work: WorkStore | None = None,
    *,
    track: bool = True,
    embedder: Embedder | None = None,
    parent_run_id: str | None = None,
) -> ClusterResult:
    """Cluster the work store's scrubbed calls into tasks; ids stay stable across nights.

    `track` logs the run to MLflow (nested in the active run, or under `parent_run_id`);
    `embedder` lets a caller share a loaded embedding model between runs."""
    from slimline.store import WorkStore

    cfg = settings.cluster
    work = work or WorkStore(settings.work_store_url)
    timings: dict[str, float] = {}
    started = t = time.perf_counter()
    cpu_started = c = time.process_time()
    state = work.get_state(STATE_KEY)
    if state and state.get("embedding") != embedding_spec(settings):
        raise ClusterConfigChanged(
            f"cluster: the saved clusters were found with embedding settings "
            f"{state.get('embedding')}, the config now says {embedding_spec(settings)}; "
            "set cluster.embedding_model and cluster.weights back, or start a new "
            "SLIMLINE_HOME for the new settings (cluster ids are never renumbered)"
        )
    previous = work.assignments()
    every, sigs, pending = _read_calls(work, settings, previous)
    record(timings, "read", t, c)

    embedder = embedder or Embedder(cfg, work)
    t, c = time.perf_counter(), time.process_time()
    vectors = embedder.signatures(sigs) if sigs else np.zeros((0, 1), dtype=np.float32)
    record(timings, "embed", t, c)
    docs = [f.document for f in pending]
    chosen = np.full(len(pending), UNCLUSTERED, dtype=int)
    score = np.zeros(len(pending), dtype=np.float32)

    mapping: dict[int, int] = {int(k): v for k, v in (state or {}).get("topics", {}).items()}
    floors: dict[int, float] = {int(k): v for k, v in (state or {}).get("floors", {}).items()}
    # ids are never reused, even where a crashed run wrote clusters but not its state
    next_id = max([int((state or {}).get("next_id", 0))] + [r + 1 for r in _cluster_ids(work)])
    version = (state or {}).get("version")
    saved = None
    if state and len(pending):
        t, c = time.perf_counter(), time.process_time()
        saved = topic_model.load(settings.path(*state["path"]), embedder.encoder)
        _assign_known(saved, np.arange(len(pending)), docs, vectors, mapping, floors, chosen, score)
        record(timings, "assign", t, c)

    new_ids: dict[int, int] = {}  # new model's topic -> new stable id
    fresh_model = None
    left = np.flatnonzero(chosen == UNCLUSTERED)
    size = topic_model.min_cluster_size(cfg, len(every))
    min_new = cfg.min_new_calls or 2 * size
    arrived = any(f.call_id not in previous for f in pending)  # else: last night's leftovers
    if topic_model.can_fit(cfg, len(left), size) and (
        not state or (arrived and len(left) >= min_new)
    ):
        fresh_model, fresh_topics = topic_model.fit(
            cfg, [docs[i] for i in left], vectors[left], timings, size if state else None
        )
        t, c = time.perf_counter(), time.process_time()
        centres = topic_model.topic_embeddings(fresh_model)
        target: dict[int, int | None] = {}  # fresh topic -> known id, new id, or None (outlier)
        if saved is None:
            target = {topic: None for topic in centres}
            merged = fresh_model
        else:
            merged = type(saved).merge_models(
                [saved, fresh_model], min_similarity=cfg.same_task_similarity
            )
            appended = _merged_topic_ids(merged, fresh_model, len(saved.topic_embeddings_))
            base = np.asarray(saved.topic_embeddings_, dtype=np.float32)
            base_n = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
            for topic, centre in centres.items():
                if topic in appended:
                    target[topic] = None
                    continue
                nearest = int(np.argmax(base_n @ (centre / np.linalg.norm(centre)))) - int(
                    getattr(saved, "_outliers", 0)
                )
                target[topic] = mapping.get(nearest, UNCLUSTERED)
        fresh_floors = _floors(fresh_topics, vectors[left], centres, cfg.assign_quantile)
        for topic, known in sorted(target.items()):
            if known is None:
                new_ids[topic] = next_id
                merged_topic = topic if saved is None else appended[topic]
                mapping[merged_topic] = next_id
                floors[next_id] = fresh_floors.get(topic, 1.0)
                next_id += 1
        centre_of = {**new_ids}
        for j, topic in enumerate(fresh_topics):
            i = left[j]
            cid = centre_of.get(int(topic), target.get(int(topic)))
            if cid is not None and int(topic) >= 0 and cid != UNCLUSTERED:
                chosen[i] = cid
                centre = centres[int(topic)]
                score[i] = float(vectors[i] @ centre / max(np.linalg.norm(centre), 1e-12))
        if new_ids:
            version = int(version or 0) + 1
            parts = ("models", "cluster", f"v{version}")
            topic_model.save(merged, settings.path(*parts), resolve_model(cfg.embedding_model))
            state = {
                "version": version,
                "path": list(parts),
                "topics": {str(k): v for k, v in sorted(mapping.items())},
                "floors": {str(k): round(v, 6) for k, v in sorted(floors.items())},
                "next_id": next_id,
                "embedding": embedding_spec(settings),
            }
            # the fit's outliers meet the saved model's rule now, not next night: a quiet
            # night after this one then finds nothing to move, and so nothing to retrain.
            # Loaded back from disk because that is the model the next night uses: the
            # in-memory one would transform through UMAP and HDBSCAN, not the saved centres.
            still = np.flatnonzero(chosen == UNCLUSTERED)
            if len(still):
                model_now = topic_model.load(settings.path(*parts), embedder.encoder)
                _assign_known(model_now, still, docs, vectors, mapping, floors, chosen, score)
        record(timings, "map", t, c)

    t, c = time.perf_counter(), time.process_time()
    result = _store(
        settings, work, every, pending, chosen, score, previous, fresh_model, new_ids, version
    )
    if new_ids:  # last: a crash before this leaves the known model and ids as they were
        work.set_state(STATE_KEY, state)
    record(timings, "store", t, c)
    result.examined = len(pending)
    result.fitted = fresh_model is not None
    result.embedded, result.embedding_cache_hits = embedder.computed, embedder.cached
    result.model_path = str(settings.path(*state["path"])) if state else None
    record(timings, "total", started, cpu_started)
    result.timings = {k: round(v, 3) for k, v in timings.items()}
    if track and result.total_clusters:
        result.mlflow_run_id = log_cluster_run(settings, result, parent_run_id)
    log.info(
        "cluster: %d calls, %d examined, %d assigned, %d new clusters, %d unclustered",
        result.calls,
        result.examined,
        result.assigned,
        result.new_clusters,
        result.unclustered,
    )
    return result


def _store(
    settings: Settings,
    work: WorkStore,
    every: list[CallFacts],
    pending: list[CallFacts],
    chosen: np.ndarray,
    score: np.ndarray,
    previous: dict[str, int],
    fresh_model: Any,
    new_ids: dict[int, int],
    version: int | None,
) -> ClusterResult:
    """Write assignments and clusters (labels for new ones, stats for all); the result."""
    cfg = settings.cluster
    changes = []
    for fact, cid, sim in zip(pending, chosen, score, strict=True):
        if fact.call_id not in previous or previous[fact.call_id] != int(cid):
            changes.append(
                {
                    "call_id": fact.call_id,
                    "cluster_id": int(cid),
                    "probability": float(sim) if cid != UNCLUSTERED else None,
                    "model_version": int(version or 0),
                }
            )
    if changes:
        work.assign(changes)
    now_of = {**previous, **{c["call_id"]: c["cluster_id"] for c in changes}}
    members: dict[int, list[CallFacts]] = defaultdict(list)
    for fact in every:
        members[now_of.get(fact.call_id, UNCLUSTERED)].append(fact)
    totals = describe.totals_of(every)
    rows = {r["cluster_id"]: r for r in work.clusters()}
    taken = {r["slug"] for r in rows.values()}
    new_cids = set(new_ids.values())
    infos = []
    for cid in sorted(set(rows) | new_cids):
        group = members.get(cid, [])
        stats = describe.cluster_stats(group, totals, cfg.top_tools)
        row = rows.get(cid)
        if row is None:
            topic = next(t for t, c in new_ids.items() if c == cid)
            keywords = topic_model.keywords(fresh_model, topic, cfg.keywords)
            agent = describe.dominant_agent(group)
            tools = stats["top_tools"]
            text_share = 1.0 - stats["tool_call_rate"]
            slug = describe.unique_slug(agent, keywords, cid, taken)
            taken.add(slug)
            row = {
                "cluster_id": cid,
                "slug": slug,
                "label": describe.label(agent, keywords, tools, text_share),
                "keywords": keywords,
                "top_tools": tools,
                "model_version": int(version or 0),
            }
        row = {k: row[k] for k in ("cluster_id", "slug", "label", "keywords", "top_tools")} | {
            "stats": stats,
            "model_version": int(row["model_version"]),
        }
        work.save_cluster(row)
        infos.append(ClusterInfo(**row, new=cid in new_cids))
    return ClusterResult(
        calls=len(every),
        assigned=sum(1 for c in changes if c["cluster_id"] != UNCLUSTERED),
        new_clusters=len(new_cids),
        unclustered=len(members.get(UNCLUSTERED, [])),
        total_clusters=len(infos),
        model_version=version,
        clusters=infos,
    )
