"""The logits processor with real llguidance matchers: free rows pass untouched, constrained
rows keep only what their grammar allows, a failed matcher can only stop."""

from __future__ import annotations

import torch
from tool_caller import BOOKING_TOOLS

from slimline.decoding import stop_token_ids
from slimline.decoding.constrain import GrammarConstraint
from slimline.decoding.grammar import ToolGrammars


def test_each_row_gets_its_own_mask_and_a_failed_matcher_forces_a_stop(smol_tokenizer):
    tok = smol_tokenizer
    grammars = ToolGrammars(tok)
    stops = stop_token_ids(tok)
    width = len(tok) + 16  # a model whose logits are wider than the tokenizer's vocabulary
    constraint = GrammarConstraint(
        [grammars.matcher(BOOKING_TOOLS), None, grammars.matcher(BOOKING_TOOLS)],
        stops,
        grammars.vocab_size,
    )
    prompt = torch.zeros((3, 5), dtype=torch.long)
    scores = constraint(prompt, torch.zeros((3, width)))
    assert torch.isfinite(scores[1]).all()  # no tools: free
    assert torch.isinf(scores[0, len(tok) :]).all()  # never past the vocabulary
    start = tok.convert_tokens_to_ids("<|im_start|>")  # a special token: never in an answer
    assert torch.isinf(scores[0, start]) and torch.isfinite(scores[0, stops]).all()

    # row 0 writes "<", row 1 anything, row 2 the special token its grammar forbids
    less_than = tok("<", add_special_tokens=False)["input_ids"][0]
    step = torch.cat([prompt, torch.tensor([[less_than], [start], [start]])], dim=1)
    scores = constraint(step, torch.zeros((3, width)))
    assert constraint.failed == [False, False, True]
    allowed_2 = torch.isfinite(scores[2]).nonzero().flatten().tolist()
    assert allowed_2 == stops  # the failed row can only stop
    assert torch.isfinite(scores[0]).sum() > 1 and torch.isfinite(scores[1]).all()

    # a row that stopped is done: its padding is not fed to the matcher
    step = torch.cat([step, torch.tensor([[stops[0]], [0], [stops[0]]])], dim=1)
    constraint(step, torch.zeros((3, width)))
    assert constraint.done == [True, True, True] and constraint.masks == 4
