"""Analysing the strings of a scrub run: little text in this process, more in worker
processes that each build their own analyzer (engine.py) and take a share.

`Analysis(config)(texts)` returns, per text, its spans (start, end, entity, score), or None
for a text that could not be analysed; `failures` then says why, by text. A worker that
fails or dies costs nothing but time: its share is analysed again in this process, text by
text, so one bad string sets aside only the records that hold it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.scrub.engine import TextAnalyzer, local_analyzer, resolve_spacy_model
from slimline.tasks.scrub.spans import Span, resolve
from slimline.tasks.scrub.worker import WorkerPool

__all__ = ["Analysis", "Span", "TextAnalyzer", "local_analyzer", "resolve", "resolve_spacy_model"]

_LOG = logging.getLogger("slimline.scrub")


class Analysis:
    """Analyses strings for one scrub run: little text in this process, more in worker
    processes (`config.workers`) started on first need and kept until `close()`."""

    def __init__(self, config: ScrubConfig):
        resolve_spacy_model(config.spacy_model)  # a bad model fails here, not in a worker
        self.config = config
        self.workers = max(1, min(config.workers, os.cpu_count() or 1))
        self.failures: dict[str, str] = {}  # text -> why it could not be analysed
        self._pool: Any = None

    def __call__(self, texts: Sequence[str]) -> list[list[Span] | None]:
        total = sum(len(t) for t in texts)
        small = total < self.config.parallel_min_chars or len(texts) < 2 * self.workers
        if self.workers == 1 or (small and self._pool is None):
            return self._local(texts)
        if self._pool is None:
            self._pool = WorkerPool(self.config.model_dump_json(), self.workers)
        chunks = _chunks(texts, target=max(10_000, total // (self.workers * 8)))
        out: list[list[Span] | None] = [[] for _ in texts]
        results = self._pool.map([[texts[i] for i in chunk] for chunk in chunks])
        for chunk, reply in zip(chunks, results, strict=True):
            if reply is None:  # the worker failed or died: this process does its share
                _LOG.warning(
                    "an analysis worker failed; its %d strings are redone here", len(chunk)
                )
                reply = (self._local([texts[i] for i in chunk]), {})
            spans, errors = reply
            for n, (i, found) in enumerate(zip(chunk, spans, strict=True)):
                out[i] = found
                if found is None:
                    self.failures[texts[i]] = errors.get(n, "analysis failed")
        _LOG.info("analysed %d strings (%d chars) in %d processes", len(texts), total, self.workers)
        return out

    def _local(self, texts: Sequence[str]) -> list[list[Span] | None]:
        analyzer = local_analyzer(self.config)
        found = analyzer.analyse(texts)
        for i, spans in enumerate(found):
            if spans is None:
                self.failures[texts[i]] = analyzer.errors.get(i, "analysis failed")
        return found

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def analyse_texts(texts: Sequence[str], config: ScrubConfig) -> list[list[Span] | None]:
    """Spans to replace in each text (a one-off `Analysis`)."""
    with Analysis(config) as analysis:
        return analysis(texts)


def _chunks(texts: Sequence[str], target: int) -> list[list[int]]:
    """Indices of texts in chunks of about `target` characters, longest texts first."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i in order:
        current.append(i)
        size += len(texts[i])
        if size >= target or len(current) >= 400:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks
