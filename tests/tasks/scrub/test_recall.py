"""Recall and precision on real calls with PII planted at known places, scrubbed by two
analysis worker processes."""

from __future__ import annotations

import pytest
from scrub_samples import conversations

from benchmarks import scrub_quality as quality
from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.scrub.scrubber import Scrubber
from slimline.tasks.scrub.walk import map_message

STRICT = ("email", "phone", "card", "ssn", "ip", "secret")


@pytest.mark.slow
def test_recall_and_precision_on_planted_pii(tau2_lines):
    calls = conversations(tau2_lines, per_agent=2)
    last = {}
    for call in calls:  # the last call of each conversation holds all of it
        last[call.conversation_id] = call
    planted_calls, planted = quality.plant_pii(list(last.values()), per_kind=200, seed=5)

    config = ScrubConfig(workers=2, parallel_min_chars=0)
    scrubber = Scrubber(config, "3c" * 32)
    try:
        scrubber.learn(planted_calls)
        assert scrubber.analysis._pool is not None  # the worker processes did the analysis
        out = [scrubber.scrub(r) for r in planted_calls]
    finally:
        scrubber.close()

    found = quality.recall(planted, out)
    rates = {kind: hit / total for kind, (hit, total) in found.items()}
    assert all(total == 200 for _, total in found.values())
    assert all(rates[k] >= 0.995 for k in STRICT), rates
    assert rates["person"] >= 0.95 and rates["address"] >= 0.95, rates

    # precision: a replaced span is right when it is planted PII or PII the data's own JSON
    # keys name (first_name, email, zip ...)
    truth = {p.value for p in planted} | {t for p in planted for t in p.value.split()}

    def visit(text: str, hint: str | None, place: str) -> str:
        if scrubber.hinted(text, hint):
            truth.update([text, *text.split()])
        return text

    for rec in planted_calls:
        for msg in [*rec.messages, rec.response]:
            map_message(msg.model_dump(mode="json", exclude_none=True), visit, scrubber.hints)
    score = quality.precision(scrubber.spans, truth)
    assert score.value >= 0.95, score.false_by_text.most_common(10)
