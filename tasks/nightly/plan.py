"""Which clusters need a new adapter tonight, and what the last completed night did.

A cluster is retrained when the set of its calls, or the training config, changed since its
last completed night (trained, evaluated and through the gate). Its digest is a hash of its
sorted call ids and the config fingerprint; the digests of completed nights live in the work
store (`work_state['retrain.completed']`). A night that crashed half-way left no digest for
the clusters it did not finish, so a re-run trains exactly those.
"""

from __future__ import annotations

from typing import Any, Literal

from slimline.chat_format import reference_calls
from slimline.record import canonical_json, content_hash
from slimline.store import WorkStore

STATE_KEY = "retrain.completed"


def config_fingerprint(*configs: Any) -> str:
    """A hash of the configs that shape an adapter (pydantic models or plain data)."""
    dumped = [c.model_dump(mode="json") if hasattr(c, "model_dump") else c for c in configs]
    return content_hash(canonical_json(dumped))[:16]


def cluster_digests(work: WorkStore, fingerprint: str) -> dict[int, str]:
    """{cluster_id: digest of its call ids and the config} for every cluster with calls."""
    return {
        cid: content_hash(fingerprint + "|" + ",".join(sorted(ids)))[:32]
        for cid, ids in work.members().items()
    }


def clusters_to_train(
    work: WorkStore,
    fingerprint: str,
    max_clusters: int | None = None,
    priority: Literal["servable", "largest"] = "largest",
    text_served: bool = False,
) -> dict[int, str]:
    """{cluster_id: digest} of the clusters whose digest differs from their last completed
    one; with `max_clusters`, only that many (the rest wait a night), first those with the
    most calls (`largest`) or with the most calls the cascade could serve (`servable`: calls
    the teacher answered with tool calls, and text answers too when `text_served`)."""
    done = work.get_state(STATE_KEY, {}) or {}
    changed = {
        cid: digest
        for cid, digest in cluster_digests(work, fingerprint).items()
        if done.get(str(cid)) != digest
    }
    if max_clusters is None:
        return changed
    if priority == "servable" and not text_served:
        weight = {cid: servable_calls(work, cid) for cid in changed}
    else:
        weight = {cid: len(ids) for cid, ids in work.members().items()}
    order = sorted(changed, key=lambda cid: (-weight[cid], cid))[:max_clusters]
    return {cid: changed[cid] for cid in order}


def servable_calls(work: WorkStore, cluster_id: int) -> int:
    """How many of the cluster's calls the teacher answered with tool calls: the calls a
    small model can take over when text answers are never served (promote.text_target)."""
    return sum(bool(reference_calls(r.response)) for r in work.cluster_calls(cluster_id))


def mark_completed(work: WorkStore, digests: dict[int, str]) -> None:
    """Remember that these clusters went through training, evaluation and the gate."""
    done = dict(work.get_state(STATE_KEY, {}) or {})
    done.update({str(cid): digest for cid, digest in digests.items()})
    work.set_state(STATE_KEY, done)
