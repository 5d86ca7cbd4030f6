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
from typing import Any

import numpy as np
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
        self._prompt_len: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        if self._prompt_len is None:
            self._prompt_len = input_ids.shape[1]
        else:
            self._consume(input_ids[:, -1].tolist())
        rows = [r for r, done in enumerate(self.done) if not done]
        if not rows:
            return scores
        allowed = torch.zeros((len(rows), scores.shape[1]), dtype=torch.bool)
        for k, row in enumerate(rows):
            if self.failed[row]:
                allowed[k, self.stop_ids] = True
            else:
                allowed[k, : self.vocab_size] = _allowed(self.matchers[row], self.vocab_size)
        scores = scores.clone()
        index = torch.tensor(rows, device=scores.device)
        masked = scores[index].masked_fill(~allowed.to(scores.device), float("-inf"))
        scores[index] = masked
        return scores

    def _consume(self, last: list[int]) -> None:
        for row, token in enumerate(last):
            if self.done[row]:
                continue
            if token in self.stop_ids:
                self.done[row] = True  # later tokens of this row are padding
                continue
            matcher = self.matchers[row]
            if not self.failed[row] and not matcher.consume_token(token):
                log.error("grammar matcher failed (%s); the answer is cut", matcher.get_error())
                self.failed[row] = True


def _allowed(matcher: Any, vocab_size: int) -> torch.Tensor:
    bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
    mask = np.unpackbits(bits, bitorder="little")[:vocab_size].astype(bool)
    return torch.from_numpy(mask)
