"""Decoding shared by evaluation and serving: greedy generation with the model's own token
probabilities and a per-answer confidence, a teacher-forced scorer, confidence signals by
name, and tool calls constrained to the request's tool schemas (llguidance).

- generate.py: `generate`, `score_answers`, `Generation`, `Answer`;
- tokens.py: `render_prompt`, `stop_token_ids` (what decoding needs of a tokenizer);
- confidence.py: `confidence(probs, spans, signal=...)`, `SIGNALS`, `DEFAULT_SIGNAL`, and
  where a tool call's name and argument values sit in an answer;
- grammar.py: the answer grammar of a tool set (`tool_call_lark`) and its compiled, cached
  form per tokenizer (`tool_grammars(tokenizer).matcher(tools)`);
- constrain.py: the logits processor that applies those grammars during generation.

Importing this package loads neither torch, transformers nor llguidance; the calls do.
"""

from slimline.decoding.confidence import DEFAULT_SIGNAL, SIGNALS, confidence
from slimline.decoding.generate import Answer, Generation, generate, score_answers
from slimline.decoding.grammar import tool_call_lark, tool_grammars
from slimline.decoding.tokens import render_prompt, stop_token_ids

__all__ = [
    "DEFAULT_SIGNAL",
    "SIGNALS",
    "Answer",
    "Generation",
    "confidence",
    "generate",
    "render_prompt",
    "score_answers",
    "stop_token_ids",
    "tool_call_lark",
    "tool_grammars",
]
