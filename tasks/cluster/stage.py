"""`run_cluster`: the cluster stage over the work store, with cluster ids stable across nights.

A night reads the scrubbed calls (nothing else), gives each its agent identity
(identity.py: agent name, tool names, constant system prompt), and:
1. keeps every call already in a cluster where it is (ids never move or get renumbered);
2. assigns the new and the still-unclustered calls to the nearest known cluster OF THEIR
   OWN IDENTITY with the saved model (BERTopic loaded from safetensors), when they are as
   close to its centre as the cluster's own calls were (`assign_quantile`);
3. fits a fresh model per identity on what is left of it, when there is enough: groups as
   close as `same_task_similarity` to a known cluster of that identity join it, the others
   become clusters with NEW ids; the saved model and the new ones are merged
   (`BERTopic.merge_models`, every new topic appended) into the next model version, saved
   under $SLIMLINE_HOME/models/cluster/v<n>; the calls still left then meet step 2's rule
   under that version, so a night is a fixed point: the next one, with nothing new, moves
   no call (and retrains nothing);
4. refreshes every cluster's stats (with its identity and its tasks, actions.py), writes
   clusters and assignments, and (by default) logs the run to MLflow (tracking.py).

A cluster's identity is that of most of its calls, recomputed each night from them, so it
needs no state of its own.

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
from slimline.tasks.cluster.actions import assign_topics, task_table
from slimline.tasks.cluster.embed import Embedder, resolve_model
from slimline.tasks.cluster.identity import assign_identities, cluster_identity
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
    assign_identities(every, settings.scrub.constant_min_conversations)
    asked = {f.context_ref for f in every if f.asked and f.constant_prompt}
    assign_topics(every, _prompts(work, asked))
    return every, sigs, pending


def _prompts(work: WorkStore, refs: set[str]) -> dict[str, str]:
    """{first message's hash: its text} for the system prompts among `refs`."""
    from slimline.record import Message

    with work.engine.connect() as conn:
        texts = work.calls.blobs.get_many(conn, refs)
    out = {}
    for ref, text in texts.items():
        message = Message.model_validate_json(text)
        if message.role in ("system", "developer"):
            out[ref] = message.text()
    return out


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
    vectors: np.ndarray,
    identities: list[str],
    mapping: dict[int, int],
    floors: dict[int, float],
    ident_of: dict[int, str],
    chosen: np.ndarray,
    score: np.ndarray,
) -> None:
    """Give the calls at `idx` the known cluster of their nearest topic under a saved
    `model` among the clusters of their own agent identity, where they are as close to it
    as its floor asks; the rest stay as they are.

    The nearest topic centre by cosine similarity is what BERTopic's `transform` does for a
    safetensors model; here the topics of other agents' clusters are left out first."""
    if not len(idx):
        return
    rows = np.asarray(model.topic_embeddings_, dtype=np.float32)
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    offset = int(getattr(model, "_outliers", 0))
    cid_of_row = [mapping.get(r - offset) if r - offset >= 0 else None for r in range(len(rows))]
    allowed: dict[str, np.ndarray] = {}
    for i in idx:
        ident = identities[i]
        if ident not in allowed:
            allowed[ident] = np.array(
                [
                    (cid is None and r < offset) or (cid is not None and ident_of.get(cid) == ident)
                    for r, cid in enumerate(cid_of_row)
                ]
            )
        mask = allowed[ident]
        if not mask.any():
            continue
        v = vectors[i] / max(float(np.linalg.norm(vectors[i])), 1e-12)
        sims = np.where(mask, rows @ v, -np.inf)
        best = int(np.argmax(sims))
        cid, sim = cid_of_row[best], float(sims[best])
        if cid is not None and sim >= floors.get(cid, 1.0):
            chosen[i], score[i] = cid, sim


def _known_twin(
    centre: np.ndarray,
    known_n: np.ndarray,
    offset: int,
    mapping: dict[int, int],
    ident_of: dict[int, str],
    ident: str,
    cfg: Any,
) -> int | None:
    """The known cluster of agent identity `ident` whose topic centre is at least
    `same_task_similarity` alike to `centre` (the most alike), or None."""
    if not len(known_n):
        return None
    sims = known_n @ (centre / max(float(np.linalg.norm(centre)), 1e-12))
    best, best_sim = None, cfg.same_task_similarity
    for row, sim in enumerate(sims):
        cid = mapping.get(row - offset) if row >= offset else None
        if cid is not None and ident_of.get(cid) == ident and sim >= best_sim:
            best, best_sim = cid, float(sim)
    return best


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
    identities = [f.identity for f in pending]
    members_of: dict[int, list[CallFacts]] = defaultdict(list)
    for fact in every:
        members_of[previous.get(fact.call_id, UNCLUSTERED)].append(fact)
    ident_of: dict[int, str] = {}  # known cluster -> the agent identity of most of its calls
    for cid, group in members_of.items():
        ident = cluster_identity(group)
        if cid != UNCLUSTERED and ident is not None:
            ident_of[cid] = ident
    saved = None
    if state and len(pending):
        t, c = time.perf_counter(), time.process_time()
        saved = topic_model.load(settings.path(*state["path"]), embedder.encoder)
        every_i = np.arange(len(pending))
        _assign_known(saved, every_i, vectors, identities, mapping, floors, ident_of, chosen, score)
        record(timings, "assign", t, c)

    new_ids: dict[int, tuple[Any, int]] = {}  # new stable id -> (its fit, the fit's topic)
    fits: list[tuple[str, np.ndarray, Any, np.ndarray]] = []  # identity, calls, model, topics
    left = np.flatnonzero(chosen == UNCLUSTERED)
    size = topic_model.min_cluster_size(cfg, len(every))
    min_new = cfg.min_new_calls or 2 * size
    by_identity: dict[str, list[int]] = defaultdict(list)
    for i in left:
        by_identity[identities[i]].append(int(i))
    for ident, members in sorted(by_identity.items()):
        idx = np.asarray(members, dtype=int)
        # last night's leftovers alone are not refitted: only calls that arrived since
        arrived = any(pending[i].call_id not in previous for i in idx)
        if topic_model.can_fit(cfg, len(idx), size) and (
            not state or (arrived and len(idx) >= min_new)
        ):
            model, topics = topic_model.fit(
                cfg, [docs[i] for i in idx], vectors[idx], timings, size if state else None
            )
            fits.append((ident, idx, model, topics))
    if fits:
        t, c = time.perf_counter(), time.process_time()
        base = saved if saved is not None else fits[0][2]
        others = [m for _, _, m, _ in (fits if saved is not None else fits[1:])]
        # every topic of every fit is appended (no similarity reaches 1.01): whether a new
        # topic is a known cluster is decided below, within its agent's clusters only
        merged = type(base).merge_models([base, *others], min_similarity=1.01) if others else base
        base_rows = len(base.topic_embeddings_)
        known_rows = np.asarray(saved.topic_embeddings_ if saved else np.zeros((0, 1)), "float32")
        known_n = known_rows / np.maximum(np.linalg.norm(known_rows, axis=1, keepdims=True), 1e-12)
        known_off = int(getattr(saved, "_outliers", 0)) if saved is not None else 0
        for n, (ident, idx, model, topics) in enumerate(fits):
            centres = topic_model.topic_embeddings(model)
            if saved is None and n == 0:
                in_merged = {topic: topic for topic in centres}
            else:
                in_merged = _merged_topic_ids(merged, model, base_rows)
            fresh_floors = _floors(topics, vectors[idx], centres, cfg.assign_quantile)
            cid_of: dict[int, int] = {}
            for topic, centre in sorted(centres.items()):
                if topic not in in_merged:
                    continue
                cid = _known_twin(centre, known_n, known_off, mapping, ident_of, ident, cfg)
                if cid is None:
                    cid = next_id
                    next_id += 1
                    new_ids[cid] = (model, topic)
                    floors[cid] = fresh_floors.get(topic, 1.0)
                    ident_of[cid] = ident
                mapping[in_merged[topic]] = cid
                cid_of[topic] = cid
            for j, topic in enumerate(topics):
                cid = cid_of.get(int(topic))
                if cid is not None:
                    i = idx[j]
                    centre = centres[int(topic)]
                    chosen[i] = cid
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
                _assign_known(
                    model_now, still, vectors, identities, mapping, floors, ident_of, chosen, score
                )
        record(timings, "map", t, c)
    fresh_model = fits[0][2] if fits else None

    t, c = time.perf_counter(), time.process_time()
    result = _store(settings, work, every, pending, chosen, score, previous, new_ids, version)
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


def _agent_words(work: WorkStore, group: list[CallFacts]) -> set[str]:
    """The words of the agent's own text (describe.context_words) for a cluster's calls."""
    ident = cluster_identity(group)
    member = next((f for f in group if f.identity == ident), None)
    if member is None:
        return set()
    record = next(iter(work.iter_scrubbed(ids=[member.call_id])), None)
    if record is None:
        return set()
    system = next((m.text() for m in record.messages if m.role in ("system", "developer")), "")
    return describe.context_words(system if member.constant_prompt else None, record.tools)


def _store(
    settings: Settings,
    work: WorkStore,
    every: list[CallFacts],
    pending: list[CallFacts],
    chosen: np.ndarray,
    score: np.ndarray,
    previous: dict[str, int],
    new_ids: dict[int, tuple[Any, int]],
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
    new_cids = set(new_ids)
    infos = []
    for cid in sorted(set(rows) | new_cids):
        group = members.get(cid, [])
        stats = describe.cluster_stats(group, totals, cfg.top_tools)
        stats["identity"] = cluster_identity(group)
        stats["tasks"] = task_table(group, cfg.task_min_share)
        row = rows.get(cid)
        if row is None:
            model, topic = new_ids[cid]
            tools = stats["top_tools"]
            found = topic_model.keywords(model, topic, 3 * cfg.keywords)
            words = _agent_words(work, group)
            keywords = describe.agent_keywords(found, words, tools)[: cfg.keywords]
            agent = describe.dominant_agent(group)
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
