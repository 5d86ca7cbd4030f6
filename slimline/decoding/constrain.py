"""Applies tool-call grammars during transformers' generation: one llguidance matcher per row
of a batch, tokens the grammar forbids set to -inf before the greedy choice.

Owns `GrammarConstraint`, a transformers LogitsProcessor. It changes only the scores the
choice is made from: `generate(output_logits=True)` still returns the raw logits, so the
probabilities slimline reports are the model's own. Rows without a matcher (no tools in
their request) pass unchanged; a row whose matcher fails (a bug, never a schema: schemas fall
back in grammar.py) is forced to stop, so no unconstrained tool call is ever written.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from transformers import LogitsProcessor

log = logging.getLogger(__name__)


class GrammarConstraint(LogitsProcessor):
    """Masks each row's next-token scores to what its matcher allows (None: free row)."""

    def __init__(self, matchers: list[Any | None], stop_ids: list[int], vocab_size: int) -> None:
        self.matchers = matchers
        self.stop_ids = stop_ids
        self.vocab_size = vocab_size  # the tokenizer's; the model's logits may be wider
        self.done = [m is None for m in matchers]
        self.failed = [False] * len(matchers)
        self.seconds = 0.0  # spent here: masks computed, tokens consumed, scores masked
        self.masks = 0  # row-steps masked
        self._first_step = True
        self._words = (vocab_size + 31) // 32
        self._shifts = torch.arange(32, dtype=torch.int32)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        started = time.perf_counter()
        if self._first_step:  # the prompt's end: nothing generated yet
            self._first_step = False
        else:
            self._consume(input_ids[:, -1].tolist())
        rows = [r for r, done in enumerate(self.done) if not done]
        if rows:
            allowed = self._allowed(rows, scores.shape).to(scores.device)
            scores = scores.masked_fill(~allowed, float("-inf"))
            self.masks += len(rows)
        self.seconds += time.perf_counter() - started
        return scores

    def _allowed(self, rows: list[int], shape: torch.Size) -> torch.Tensor:
        """True where a token may come next: all of a free row, the grammar's of the others."""
        bits = torch.zeros((len(rows), self._words), dtype=torch.int32)
        for k, row in enumerate(rows):
            if not self.failed[row]:
                self.matchers[row].unsafe_compute_mask_ptr(bits[k].data_ptr(), self._words * 4)
        unpacked = ((bits.unsqueeze(-1) >> self._shifts) & 1).bool().view(len(rows), -1)
        width = min(self.vocab_size, shape[1])  # tokens past the model's logits never come
        allowed = torch.ones(shape, dtype=torch.bool)
        allowed[rows] = False
        allowed[rows, :width] = unpacked[:, :width]
        for row in rows:
            if self.failed[row]:
                allowed[row, self.stop_ids] = True
        return allowed

    def _consume(self, last: list[int]) -> None:
        for row, token in enumerate(last):
            if self.done[row]:
                continue
            if token in self.stop_ids:
                self.done[row] = True  # later tokens of this row are padding
                continue
            matcher = self.matchers[row]
            if not self.failed[row] and not matcher.consume_token(token):
                error = matcher.get_error().splitlines()[0]  # the rest repeats the grammar
                log.error("grammar matcher failed (%s); the answer is cut", error)
                self.failed[row] = True
