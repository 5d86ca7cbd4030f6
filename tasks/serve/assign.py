"""Which cluster a live request belongs to, from the request alone, by the cluster stage's
rule for new calls: its task signature embedded (tasks/cluster/signature.py, embed.py), the
saved model's nearest topic centre (tasks/cluster/model.py `assign`), kept when the request
is as close to it as the cluster's own calls were (its floor); else no cluster.

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
from slimline.tasks.cluster.signature import document, signature
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

    def __init__(self, settings: Settings, state: dict[str, Any] | None, encoder: Any = None):
        self.cfg = settings.cluster
        self.version = (state or {}).get("version")
        self.mapping = {int(k): int(v) for k, v in (state or {}).get("topics", {}).items()}
        self.floors = {int(k): float(v) for k, v in (state or {}).get("floors", {}).items()}
        self.embedder = _MemoryEmbedder(self.cfg, encoder)
        self.model = None
        if state:
            self.model = topic_model.load(settings.path(*state["path"]), self.embedder.encoder)
        self._lock = threading.Lock()

    @classmethod
    def from_store(cls, settings: Settings, work: Any, encoder: Any = None) -> ClusterAssigner:
        return cls(settings, work.get_state(STATE_KEY), encoder)

    def assign(self, record: CallRecord) -> tuple[int | None, float]:
        if self.model is None:
            return None, 0.0
        sig = signature(record, self.cfg.system_chars, self.cfg.turn_chars)
        with self._lock:
            vectors = self.embedder.signatures([sig])
            topics, sims = topic_model.assign(self.model, [document(sig)], vectors)
        topic, sim = int(topics[0]), float(sims[0])
        cid = self.mapping.get(topic)
        if cid is None or sim < self.floors.get(cid, 1.0):
            return None, sim
        return cid, sim
