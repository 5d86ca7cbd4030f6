"""The distilled context recognises live (raw) requests by a keyed hash of their raw
context, even where scrub rewrote an identifier inside the system prompt."""

from __future__ import annotations

import pytest

from slimline.prompt import (
    CONTEXT_SECRET,
    context_text,
    distilled_context,
    record_context_key,
)
from slimline.record import Message


@pytest.mark.slow
def test_a_raw_request_matches_the_context_scrub_rewrote(settings, tau2_airline):
    from slimline.store import open_raw, open_work
    from slimline.tasks.scrub.stage import run_scrub

    policy = "Escalate refunds over $500 to Oksana Wróblewska at oksana.wroblewska@lotnisko.pl."
    raw_calls = [
        r.model_copy(update={"messages": [Message(role="system", content=policy), *r.messages[1:]]})
        for r in tau2_airline[:4]
    ]
    raw, work = open_raw(settings), open_work(settings)
    raw.add_calls(raw_calls)
    run_scrub(settings, raw, work, report=False)
    scrubbed = list(work.iter_scrubbed())
    context = distilled_context(scrubbed)
    assert "oksana.wroblewska@lotnisko.pl" not in context.text  # scrub rewrote the prompt
    live = raw_calls[0]  # what the agent sends: the raw prompt
    assert context_text(live) != context.text
    secret = raw.secret(CONTEXT_SECRET)
    assert record_context_key(secret, live) in context.raw_keys
    other = live.model_copy(
        update={"messages": [Message(role="system", content="Hi"), *live.messages[1:]]}
    )
    assert record_context_key(secret, other) not in context.raw_keys
    assert record_context_key("another secret", live) not in context.raw_keys
