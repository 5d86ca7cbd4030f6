"""One parsed JSON object of any known shape -> its records and problems.

The shapes: an OpenAI request/response pair and a fine-tuning chat line (formats.py), and an
OTLP trace export (otlp.py). Kept apart from both so that neither imports the other.
"""

from __future__ import annotations

from typing import Any

from slimline.record import InvalidRecord
from slimline.tasks.collect.formats import (
    Parsed,
    Problem,
    RecordBuilder,
    from_chat_completion_pair,
    from_finetune_chat,
)
from slimline.tasks.collect.otlp import records_from_otlp


def detect_format(obj: Any) -> str | None:
    """'pair', 'chat' (fine-tuning format) or 'otlp'; None when the object is none of them."""
    if not isinstance(obj, dict):
        return None
    if "request" in obj or "response" in obj:
        return "pair"  # one of them missing: the pair's parser says which
    if "resourceSpans" in obj:
        return "otlp"
    if "messages" in obj:
        return "chat"
    return None


def parse_object(obj: Any, source: str, where: str, builder: RecordBuilder) -> Parsed:
    """Every record in one parsed JSON object of any known shape, and every problem."""
    kind = detect_format(obj)
    try:
        if kind == "pair":
            return Parsed(records=[from_chat_completion_pair(obj, source, where, builder)])
        if kind == "chat":
            return Parsed(records=[from_finetune_chat(obj, source, where, builder)])
        if kind == "otlp":
            return records_from_otlp(obj, source, where, builder)
    except InvalidRecord as exc:
        return Parsed(problems=[Problem(where, "; ".join(exc.problems), "")])
    shape = (
        type(obj).__name__
        if not isinstance(obj, dict)
        else "object with keys " + ", ".join(sorted(map(str, obj))[:8])
    )
    reason = (
        f"unknown format ({shape}): expected an OpenAI request/response pair, "
        "a fine-tuning chat line ('messages') or an OTLP trace export ('resourceSpans')"
    )
    return Parsed(problems=[Problem(where, reason, "")])
