"""What JSON cannot hold is never stored: NaN and Infinity are set aside with a clear reason;
a tool call whose arguments are not a JSON object is stored, and marked where it is."""

from __future__ import annotations

import json

import pytest
from collect_data import write_lines

from slimline.store import RawStore
from slimline.tasks.collect.formats import INVALID_ARGUMENTS, from_chat_completion_pair
from slimline.tasks.collect.ingest import collect_source


@pytest.fixture
def store(settings):
    s = RawStore(settings.raw_store_url)
    yield s
    s.close()


def _with(line: str, **fields: object) -> str:
    obj = json.loads(line)
    obj.update(fields)
    return json.dumps(obj)  # json.dumps writes float("inf") as the token Infinity


def test_nan_and_infinity_are_quarantined_with_a_clear_reason(
    store, settings, tmp_path, tau2_sample
):
    good = tau2_sample[:4]
    lines = [
        good[0],
        _with(good[1], cost_usd=float("inf")),
        _with(good[2], cost_usd=float("nan")),
        _with(good[3], latency_ms=float("-inf"), metadata={"reward": float("nan")}),
    ]
    assert "Infinity" in lines[1] and "NaN" in lines[2]  # what such a log holds
    path = write_lines(tmp_path / "numbers.jsonl", lines)
    counts = collect_source(store, str(path), settings.collect)
    assert (counts.new, counts.quarantined) == (1, 3)
    reasons = {q.location: q.reason for q in store.list_quarantined()}
    assert reasons["line 2"] == (
        "field 'cost_usd': Value error, Infinity is not a number: JSON has no NaN or Infinity"
    )
    assert reasons["line 3"] == (
        "field 'cost_usd': Value error, NaN is not a number: JSON has no NaN or Infinity"
    )
    assert "greater than or equal" not in reasons["line 3"]
    assert "field 'latency_ms': Value error, -Infinity is not a number" in reasons["line 4"]
    assert "metadata.reward is NaN or Infinity" in reasons["line 4"]
    # what was stored exports as strict JSON
    (stored,) = [rec for _, rec in store.iter_calls()]
    json.loads(stored.model_dump_json(), parse_constant=_no_constants)


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def test_tool_calls_with_arguments_that_are_not_json_are_marked(tau2_sample):
    objs = [json.loads(line) for line in tau2_sample]
    obj = next(o for o in objs if any(m.get("tool_calls") for m in o["request"]["messages"]))
    message = obj["response"]["choices"][0]["message"]
    message["tool_calls"] = [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": '{"x": 1'}},
        {"id": "c", "type": "function", "function": {"name": "h", "arguments": "[1, 2]"}},
    ]
    rec = from_chat_completion_pair(obj, "f.jsonl", "line 1")
    assert rec.metadata[INVALID_ARGUMENTS] == ["response.tool_calls.1", "response.tool_calls.2"]
    assert rec.response.tool_calls[1].function.arguments == '{"x": 1'  # kept as it came
    earlier = next(i for i, m in enumerate(obj["request"]["messages"]) if m.get("tool_calls"))
    obj["request"]["messages"][earlier]["tool_calls"][0]["function"]["arguments"] = "not json"
    rec = from_chat_completion_pair(obj, "f.jsonl", "line 1")
    assert rec.metadata[INVALID_ARGUMENTS][0] == f"messages.{earlier}.tool_calls.0"
    clean = from_chat_completion_pair(json.loads(tau2_sample[0]), "f.jsonl", "line 1")
    assert INVALID_ARGUMENTS not in clean.metadata
