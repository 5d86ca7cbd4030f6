"""Collecting files: every good line stored once, every bad one quarantined with its reason,
only what is new read on the next run, broken gzip survived."""

from __future__ import annotations

import gzip
import json

import pytest
from collect_data import with_timestamp, write_lines
from collect_otlp_data import current_span, export, old_events_span, span

from slimline.store import RawStore
from slimline.tasks.collect.formats import from_chat_completion_pair
from slimline.tasks.collect.ingest import collect_source
from slimline.tasks.collect.stage import run_collect

CHAT_LINE = json.dumps(
    {
        "messages": [
            {"role": "user", "content": "Cancel order #W123, please."},
            {"role": "assistant", "content": "Done: order #W123 is cancelled."},
        ]
    }
)


@pytest.fixture
def store(settings):
    s = RawStore(settings.raw_store_url)
    yield s
    s.close()


def collect(store, settings, source):
    return collect_source(store, str(source), settings.collect)


def test_a_file_with_bad_lines_stores_every_good_line_and_quarantines_each_bad_one(
    store, settings, tmp_path, tau2_sample
):
    settings.collect.max_line_bytes = 200_000
    good = tau2_sample[:3]
    no_response = json.loads(good[0])
    del no_response["response"]
    wrong_type = json.loads(good[1])
    wrong_type["request"]["messages"] = "hello"
    lines = [
        good[0],
        "{not json at all",
        json.dumps(no_response),
        "",
        good[1],
        json.dumps(wrong_type),
        json.dumps({"prompt": "hi"}),
        json.dumps({"blob": "x" * 250_000}),  # over max_line_bytes
        CHAT_LINE,
        json.dumps(
            export(current_span(), span("dddddddddddddddd", {"gen_ai.operation.name": "chat"}))
        ),
        good[2],
    ]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    with open(path, "ab") as f:  # and a line that is not UTF-8, and one nested too deeply
        f.write(b'{"caf\xe9": 1}\n' + b"[" * 5000 + b"]" * 5000 + b"\n")
    counts = collect(store, settings, path)
    assert (counts.new, counts.duplicates, counts.quarantined, counts.error) == (5, 0, 8, None)
    assert store.count_calls() == 5
    reasons = {q.location: q.reason for q in store.list_quarantined()}
    span_at = "line 10, span dddddddddddddddd"
    expected = {"line 2", "line 3", "line 6", "line 7", "line 8", span_at, "line 12", "line 13"}
    assert set(reasons) == expected
    assert "nested too deeply" in reasons["line 13"]
    assert reasons["line 2"].startswith("not JSON: ")
    assert reasons["line 3"] == "field 'response': missing"
    assert "field 'messages': expected list" in reasons["line 6"]
    assert reasons["line 7"].startswith("unknown format")
    assert "250,012 bytes, over the limit of 200,000" in reasons["line 8"]
    assert "no input messages" in reasons[span_at]
    assert reasons["line 12"].startswith("not UTF-8")
    assert all(q.source == str(path) for q in store.list_quarantined())
    raw = {q.location: q.raw_text for q in store.list_quarantined()}
    assert raw["line 2"] == "{not json at all" and raw["line 12"] == '{"caf\\xe9": 1}'
    assert len(raw["line 8"]) == settings.collect.quarantine_text_bytes  # the start of it
    # a second run reads nothing new and quarantines nothing twice
    again = collect(store, settings, path)
    assert (again.new, again.quarantined, again.unchanged) == (0, 0, 1)
    assert store.count_quarantined() == 8


def test_a_grown_file_is_read_from_where_the_last_run_stopped(
    store, settings, tmp_path, tau2_sample
):
    path = write_lines(tmp_path / "calls.jsonl", tau2_sample[:10])
    assert collect(store, settings, path).new == 10
    with open(path, "ab") as f:
        f.write(("\n".join(tau2_sample[10:15]) + "\n").encode())
        f.write(tau2_sample[15][:5000].encode())  # a line still being written
    counts = collect(store, settings, path)
    assert (counts.new, counts.duplicates, counts.lines, counts.pending) == (5, 0, 5, 1)
    assert store.count_quarantined() == 0  # unfinished, not bad
    with open(path, "ab") as f:
        f.write(tau2_sample[15][5000:].encode() + b"\n")
    counts = collect(store, settings, path)
    assert (counts.new, counts.lines, counts.pending) == (1, 1, 0)
    mark = store.get_watermark(f"file:{path}")
    assert mark["offset"] == path.stat().st_size and mark["line"] == 16


def test_a_replaced_file_is_read_from_the_start(store, settings, tmp_path, tau2_sample):
    path = write_lines(tmp_path / "calls.jsonl", tau2_sample[:6])
    collect(store, settings, path)
    write_lines(path, tau2_sample[20:30] + tau2_sample[:2])  # rotated: new content, same name
    counts = collect(store, settings, path)
    assert (counts.new, counts.duplicates, counts.lines) == (10, 2, 12)


def test_a_truncated_gzip_keeps_the_lines_before_the_break(store, settings, tmp_path, tau2_sample):
    lines = [with_timestamp(line, n) for n, line in enumerate(tau2_sample[:30])]
    whole = gzip.compress("".join(line + "\n" for line in lines).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 6 // 10])
    counts = collect(store, settings, path)
    assert counts.error is None and 0 < counts.new < 30 and counts.quarantined == 1
    (q,) = store.list_quarantined()
    assert q.location == f"line {counts.new + 1}" and q.reason.startswith("truncated gzip")
    assert q.raw_text and lines[counts.new].startswith(q.raw_text)  # the cut-off line's start
    assert collect(store, settings, path).unchanged == 1  # nothing new: not read again
    path.write_bytes(whole)  # the writer finished the file
    counts = collect(store, settings, path)
    assert store.count_calls() == 30 and counts.duplicates == 0


def test_corrupt_gzip_and_appended_gzip_members(store, settings, tmp_path, tau2_sample):
    lines = [with_timestamp(line, n) for n, line in enumerate(tau2_sample[:12])]
    path = write_lines(tmp_path / "calls.jsonl.gz", lines[:8])
    assert collect(store, settings, path).new == 8
    with open(path, "ab") as f:  # a second gzip member, as `gzip >>` appends
        f.write(gzip.compress("".join(line + "\n" for line in lines[8:]).encode()))
    counts = collect(store, settings, path)
    assert (counts.new, counts.duplicates, counts.lines) == (4, 0, 4)

    bad = bytearray(gzip.compress("".join(line + "\n" for line in lines).encode()))
    bad[len(bad) // 2 : len(bad) // 2 + 64] = b"\xff" * 64
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(bytes(bad))
    counts = collect(store, settings, broken)
    assert counts.error is None and counts.quarantined == 1
    assert "corrupt gzip data" in store.list_quarantined()[-1].reason


def test_directories_globs_and_missing_sources(settings, tmp_path, tau2_sample):
    logs = tmp_path / "logs" / "2026"
    logs.mkdir(parents=True)
    write_lines(logs / "a.jsonl", tau2_sample[:2])
    write_lines(logs / "b.jsonl.gz", tau2_sample[2:4])
    (logs / "notes.txt").write_text("not a log")
    (logs / "traces.json").write_text(
        json.dumps(export(current_span(), old_events_span()), indent=2)
    )
    write_lines(tmp_path / "other.jsonl", [CHAT_LINE])
    result = run_collect(
        settings, [str(tmp_path / "logs"), str(tmp_path / "*.jsonl"), str(tmp_path / "nope.jsonl")]
    )
    folder, pattern, missing = result.sources
    assert (folder.files, folder.new, folder.quarantined) == (3, 6, 0)  # the .txt is not read
    assert (pattern.files, pattern.new) == (1, 1)
    assert (
        missing.error == f"source {tmp_path / 'nope.jsonl'}: no such file, directory or glob match"
    )
    assert (result.new, result.errors) == (7, 1)
    again = run_collect(settings, [str(tmp_path / "logs")])
    assert again.sources[0].unchanged == 3 and again.new == 0


def test_sources_default_to_the_config(settings, tmp_path, tau2_sample):
    settings.collect.sources = [str(write_lines(tmp_path / "c.jsonl", tau2_sample[:2]))]
    assert run_collect(settings, []).new == 2


def test_what_is_stored_is_what_the_line_says(store, settings, tmp_path, tau2_sample):
    path = write_lines(tmp_path / "calls.jsonl", tau2_sample)
    collect(store, settings, path)
    back = {rec.id: rec for _, rec in store.iter_calls()}
    for n, line in enumerate(tau2_sample, 1):
        expected = from_chat_completion_pair(json.loads(line), str(path), f"line {n}")
        assert back[expected.id] == expected


@pytest.mark.postgres
def test_collect_into_a_postgres_raw_store(settings, postgres_url, tmp_path, tau2_sample):
    store = RawStore(postgres_url)
    path = write_lines(tmp_path / "calls.jsonl", [*tau2_sample[:8], "oops"])
    counts = collect(store, settings, path)
    assert (counts.new, counts.quarantined) == (8, 1)
    assert collect(store, settings, path).unchanged == 1
    assert store.get_watermark(f"file:{path}")["line"] == 9
    store.close()


def test_a_window_takes_only_its_days_calls_and_leaves_the_watermark_for_the_nights(
    store, settings, tau2_path, tau2_lines
):
    from datetime import UTC, datetime

    from slimline.tasks.collect.ingest import Window

    by_day: dict[str, int] = {}
    for line in tau2_lines:
        day = json.loads(line)["timestamp"][:10]
        by_day[day] = by_day.get(day, 0) + 1
    day_one, day_two = sorted(by_day)
    start = datetime.fromisoformat(day_one).replace(tzinfo=UTC)
    first = Window(start=start, end=datetime.fromisoformat(day_two).replace(tzinfo=UTC))

    one = collect_source(store, str(tau2_path), settings.collect, window=first)
    assert (one.new, one.outside_window) == (by_day[day_one], by_day[day_two])
    assert store.get_watermark(f"file:{tau2_path}") is None  # the nights still read it all
    again = collect_source(store, str(tau2_path), settings.collect, window=first)
    assert (again.new, again.duplicates) == (0, by_day[day_one])

    night = collect(store, settings, tau2_path)  # an ordinary night after the backfill
    assert (night.new, night.duplicates, night.outside_window) == (
        by_day[day_two],
        by_day[day_one],
        0,
    )
    assert store.count_calls() == len(tau2_lines)


def test_a_window_must_end_after_it_starts():
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from slimline.tasks.collect.ingest import Window

    with pytest.raises(ValidationError, match="not after its start"):
        Window(start=datetime(2026, 11, 2, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC))
    assert datetime(2026, 11, 1, 12) in Window(start=datetime(2026, 11, 1))  # naive is UTC
