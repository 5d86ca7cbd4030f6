"""flows/backfill.py: the nightly flow once per day of a date range, with that day's window.

The nightly flow is replaced by a recorder here (it is heavy and tested on its own); the
contract test checks the real one takes what backfill passes. What a window does to collect
is tested in tests/tasks/collect/test_collect_ingest.py.
"""

from __future__ import annotations

import inspect
import sys
import types
from datetime import UTC, date, datetime, timedelta

import pytest


@pytest.fixture
def recorded_nights(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    stand_in = types.ModuleType("slimline.flows.nightly")
    stand_in.nightly = lambda **kwargs: calls.append(kwargs) or len(calls)
    monkeypatch.setitem(sys.modules, "slimline.flows.nightly", stand_in)
    return calls


def test_backfill_runs_one_night_per_day_oldest_first(recorded_nights):
    from slimline.flows.backfill import backfill

    results = backfill.fn(date(2028, 2, 28), date(2028, 3, 1), sources=["a.jsonl"], profile="demo")
    assert results == [1, 2, 3]
    starts = [c["window_start"] for c in recorded_nights]
    assert starts == [datetime(2028, 2, d, tzinfo=UTC) for d in (28, 29)] + [
        datetime(2028, 3, 1, tzinfo=UTC)
    ]
    for call in recorded_nights:
        assert call["window_end"] - call["window_start"] == timedelta(days=1)
        assert call["sources"] == ["a.jsonl"] and call["profile"] == "demo"


def test_backfill_rejects_an_end_before_its_start(recorded_nights):
    from slimline.flows.backfill import backfill

    with pytest.raises(ValueError, match="before start"):
        backfill.fn(date(2026, 11, 2), date(2026, 11, 1))
    assert recorded_nights == []


def test_the_nightly_flow_takes_what_backfill_passes():
    from slimline.flows.nightly import nightly

    params = inspect.signature(nightly.fn).parameters
    assert {"sources", "profile", "window_start", "window_end"} <= set(params)
