"""One long string never blocks the pipeline: a call holding a 2,000,000-character string
beside good calls is set aside (or, with a higher limit, scrubbed in pieces); a call that
cannot be scrubbed goes to the work store's quarantine (its id and reason, never its
content) and the next run goes on."""

from __future__ import annotations

import pytest
from scrub_samples import conversations

from slimline.record import Message
from slimline.store import open_raw, open_work
from slimline.tasks.scrub import engine
from slimline.tasks.scrub.stage import run_scrub

EMAIL = "tamar.beridze@corp-mail.com"
NAME = "Tamar Beridze"
LINE = "2026-11-30T12:00:00Z INFO job finished in 12 ms, status ok, queue default\n"


def huge_log(size: int = 2_000_000) -> str:
    """A log of `size` characters as a tool returns it, with PII at its start."""
    return (f"Requested by {NAME}, write to {EMAIL}\n" + LINE * (size // len(LINE) + 1))[:size]


def huge_scan(size: int = 2_000_000) -> str:
    """A message of `size` characters: an image as a data URL between two sentences with
    PII, the second one past the middle."""
    head = f"Hi, this is {NAME}, here is the scan: data:image/png;base64,"
    tail = f" Reach me at {EMAIL}. Thanks,\n{NAME}"
    blob = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk" * 40_000
    return head + blob[: size - len(head) - len(tail)] + tail


@pytest.fixture(scope="module")
def good(tau2_lines):
    retail = [line for line in tau2_lines if line["agent"] == "tau2-retail"]
    return conversations(retail, per_agent=1)[:6]


def with_message(call, marker: str, message: Message):
    rec = call.model_copy(deep=True)
    rec.id = f"{call.id[:24]}{marker}"
    rec.messages.append(message)
    return rec


@pytest.mark.slow
def test_a_piece_boundary_cuts_no_value(analyzer):
    filler = "the order was shipped and the tracking page shows it moving along. " * 4000
    at = engine.PIECE_CHARS - 10  # where the first piece ends, give or take a word
    text = filler[:at] + f" {EMAIL} " + filler[:96_000] + f" my name is {NAME}. "
    first_end = engine.pieces(text)[1] + engine.OVERLAP_CHARS
    start = text.index(EMAIL)
    assert start < first_end < start + len(EMAIL)  # the first piece holds half the email
    found = [(text[s:e], entity) for s, e, entity, _ in analyzer.analyse([text])[0]]
    assert found == [(EMAIL, "EMAIL_ADDRESS"), (NAME, "PERSON")]


def test_a_call_with_a_2m_string_is_set_aside_and_the_next_run_goes_on(settings, good):
    raw, work = open_raw(settings), open_work(settings)
    huge = Message(role="tool", content=huge_log(), tool_call_id="call_log")
    raw.add_calls([*good[:3], with_message(good[3], "toolong1", huge), *good[4:]])
    first = run_scrub(settings, raw, work, report=False)
    assert (first.scrubbed, first.quarantined) == (len(good) - 1, 1)
    assert first.quarantine_reasons == {"too_long": 1}
    (row,) = work.scrub_quarantined()
    assert row["call_id"].endswith("toolong1") and row["scrub_run_id"] == first.run_id
    assert row["reason"] == (
        "a string of 2,000,000 characters, over scrub.max_string_chars (1,000,000)"
    )
    assert {r.id for r in work.iter_scrubbed()} == {c.id for c in good} - {good[3].id}
    raw.add_calls([good[3]])
    second = run_scrub(settings, raw, work, report=False)  # goes on after it
    assert (second.scrubbed, second.quarantined) == (1, 0)
    assert run_scrub(settings, raw, work, report=False).scrubbed == 0
    assert [r["status"] for r in work.runs("scrub")] == ["completed"] * 3
    raw.close()
    work.close()


@pytest.mark.slow
def test_with_a_higher_limit_a_2m_string_is_scrubbed_in_pieces(settings, good):
    settings.scrub.max_string_chars = 3_000_000
    raw, work = open_raw(settings), open_work(settings)
    scan = Message(role="user", content=huge_scan())
    raw.add_calls([*good[:2], with_message(good[2], "bigscan1", scan)])
    result = run_scrub(settings, raw, work, report=False)  # two worker processes
    assert (result.scrubbed, result.quarantined) == (3, 0)
    (big,) = [r for r in work.iter_scrubbed() if r.id.endswith("bigscan1")]
    text = big.messages[-1].text()
    assert len(text) > 1_990_000 and "base64,iVBORw0KGgo" in text
    assert EMAIL not in text and "Beridze" not in text and "Tamar" not in text
    raw.close()
    work.close()


def test_a_string_the_analyzer_fails_on_sets_aside_only_its_call(settings, good, monkeypatch):
    """spaCy's own length limit, met by making the pieces too big: the real error of the
    real analyzer, in this process."""
    settings.scrub.workers = 1
    settings.scrub.max_string_chars = 3_000_000
    monkeypatch.setattr(engine, "PIECE_CHARS", 3_000_000)
    raw, work = open_raw(settings), open_work(settings)
    huge = Message(role="tool", content=huge_log(), tool_call_id="call_log")
    raw.add_calls([good[0], with_message(good[1], "spacyerr", huge), good[2]])
    result = run_scrub(settings, raw, work, report=False)
    assert (result.scrubbed, result.quarantined) == (2, 1)
    assert result.quarantine_reasons == {"analysis": 1}
    (row,) = work.scrub_quarantined()
    assert row["call_id"].endswith("spacyerr")
    assert row["reason"].startswith("analysis failed: ValueError at ")
    assert EMAIL not in row["reason"] and NAME not in row["reason"]
    assert run_scrub(settings, raw, work, report=False).quarantined == 0
    raw.close()
    work.close()
