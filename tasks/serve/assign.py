"""Which cluster a live request belongs to, from the request alone, by the cluster stage's
rule for new calls (tasks/cluster/stage.py `_assign_known`): its task signature embedded
(tasks/cluster/signature.py, embed.py), the saved model's nearest topic centre among the
clusters of its own agent identity, kept when the request is as close to it as the
cluster's own calls were (its floor); else no cluster.

The stage tells an agent's identity by the hash of its scrubbed system prompt, which a raw
request cannot give; the router knows it from the champion whose raw context key the
request carries (`allowed`: the clusters of that champion's identity, from the clusters'
stats). Without `allowed` every cluster is a candidate.

Nothing about a live request is written anywhere: the embeddings of its texts are cached in
memory only (the system prompt and tool names repeat in every call of an agent).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from slimline.config import Settings
from slimline.record import CallRecord
from slimline.tasks.cluster import model as topic_model
from slimline.tasks.cluster.embed import Embedder
from slimline.tasks.cluster.signature import signature
from slimline.tasks.cluster.stage import STATE_KEY

log = logging.getLogger("slimline.serve")


class _MemoryEmbedder(Embedder):
    """An Embedder whose cache is a bounded dict in memory, never the work store."""

    def __init__(self, cfg: Any, encoder: Any = None, max_entries: int = 20_000) -> None:
        super().__init__(cfg, None, encoder)
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._max = max_entries

    def _cache_get(self, keys: list[str]) -> dict[str, np.ndarray]:
        return {k: self._memory[k] for k in keys if k in self._memory}

    def _cache_put(self, vectors: dict[str, np.ndarray]) -> None:
        self._memory.update(vectors)
        while len(self._memory) > self._max:
            self._memory.popitem(last=False)


class ClusterAssigner:
    """The saved cluster model of the work store's state, applied to one request at a time.

    `assign(record)` -> (cluster id or None, similarity). Without a saved model every request
    gets None. Calls are serialised: the encoder is not shared between threads."""

    def __init__(
        self,
        settings: Settings,
        state: dict[str, Any] | None,
        encoder: Any = None,
        identities: dict[int, str] | None = None,
    ):
        self.cfg = settings.cluster
        self.version = (state or {}).get("version")
        self.mapping = {int(k): int(v) for k, v in (state or {}).get("topics", {}).items()}
        self.floors = {int(k): float(v) for k, v in (state or {}).get("floors", {}).items()}
        self.identities = identities or {}  # cluster id -> its agent identity
        self.embedder = _MemoryEmbedder(self.cfg, encoder)
        self.model = None
        if state:
            self.model = topic_model.load(settings.path(*state["path"]), self.embedder.encoder)
            rows = np.asarray(self.model.topic_embeddings_, dtype=np.float32)
            self.rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
            self.offset = int(getattr(self.model, "_outliers", 0))
            self.cid_of_row = [
                self.mapping.get(r - self.offset) if r >= self.offset else None
                for r in range(len(rows))
            ]
        self._lock = threading.Lock()

    @classmethod
    def from_store(cls, settings: Settings, work: Any, encoder: Any = None) -> ClusterAssigner:
        identities = {
            int(c["cluster_id"]): str((c.get("stats") or {}).get("identity"))
            for c in work.clusters()
            if (c.get("stats") or {}).get("identity")
        }
        return cls(settings, work.get_state(STATE_KEY), encoder, identities)

    def same_identity(self, cluster_id: int) -> set[int] | None:
        """The clusters of `cluster_id`'s agent identity; None when it is not known."""
        ident = self.identities.get(cluster_id)
        if ident is None:
            return None
        return {cid for cid, other in self.identities.items() if other == ident}

    def assign(
        self, record: CallRecord, allowed: set[int] | None = None
    ) -> tuple[int | None, float]:
        """(cluster id or None, similarity) of `record`, among the `allowed` clusters."""
        if self.model is None:
            return None, 0.0
        sig = signature(record, self.cfg.system_chars, self.cfg.turn_chars)
        with self._lock:
            vector = self.embedder.signatures([sig])[0]
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        mask = np.array(
            [
                (cid is None and r < self.offset)
                or (cid is not None and (allowed is None or cid in allowed))
                for r, cid in enumerate(self.cid_of_row)
            ]
        )
        if not mask.any():
            return None, 0.0
        sims = np.where(mask, self.rows @ vector, -np.inf)
        best = int(np.argmax(sims))
        cid, sim = self.cid_of_row[best], float(sims[best])
        if cid is None or sim < self.floors.get(cid, 1.0):
            return None, sim
        return cid, sim
