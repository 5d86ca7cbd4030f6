"""`slimline replay`: logged calls through the router's decisions offline, the logged
answers standing in for the LLM's; nothing is sent anywhere and nothing is recorded."""

from __future__ import annotations

import json

import pytest
from testkit.router_world import WEATHER, body_of
from typer.testing import CliRunner

pytestmark = pytest.mark.slow


def logged(record) -> dict:
    """A logged call as the proxy's log (and collect) reads it: request and response bodies."""
    response = record.response.model_dump(mode="json", exclude_none=True)
    return {
        "timestamp": record.timestamp.isoformat(),
        "agent": record.agent,
        "cost_usd": 0.002,
        "request": body_of(record),
        "response": {"choices": [{"index": 0, "message": response}]},
    }


def test_replay_prints_per_cluster_who_would_answer(served, tmp_path):
    from slimline.cli import app
    from slimline.store import RawStore, WorkStore

    world = served
    airline, retail = world.raw["tau2-airline"][-5:], world.raw["tau2-retail"][-3:]
    weather = {"timestamp": "2026-12-01T10:00:00Z", "request": WEATHER, "response": {
        "choices": [{"message": {"role": "assistant", "content": "Sunny."}}]}}  # fmt: skip
    source = tmp_path / "yesterday.jsonl"
    lines = [logged(r) for r in airline + retail] + [weather]
    source.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot a call\n")
    home = str(world.settings.home)
    raw_before = RawStore(world.settings.raw_store_url).count_calls()
    work = WorkStore(world.settings.work_store_url)
    rows_before = len(work.decisions())

    result = CliRunner().invoke(app, ["--home", home, "replay", "--source", str(source), "--json"])

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["calls"] == 9 and 0 <= out["served"] <= out["calls"]
    assert out["served_share"] == pytest.approx(out["served"] / 9, abs=1e-6)
    assert "agreement" in out and out["champions"]
    by_cluster = {c["cluster"]: c for c in out["clusters"]}
    airline_c = by_cluster[str(world.clusters["tau2-airline"])]
    retail_c = by_cluster[str(world.clusters["tau2-retail"])]
    assert airline_c["model"] == f"{world.models['tau2-airline']}@v1"
    assert airline_c["calls"] + by_cluster.get("unassigned", {"calls": 0})["calls"] >= 5
    assert retail_c["served"] == 0  # its threshold (0.999) is beyond the tiny model
    assert sum(c["calls"] for c in out["clusters"]) == 9
    assert sum(c["served"] for c in out["clusters"]) == out["served"]
    unserved = sum(sum(c["fallbacks"].values()) for c in out["clusters"])
    assert unserved == 9 - out["served"]
    assert out["cost_saved_usd"] == pytest.approx(0.002 * out["served"])
    # offline: nothing recorded anywhere
    assert RawStore(world.settings.raw_store_url).count_calls() == raw_before
    assert len(work.decisions()) == rows_before
    work.close()

    human = CliRunner().invoke(app, ["--home", home, "replay", "--source", str(source)])
    assert human.exit_code == 0 and "total:" in human.stdout and "of 9 calls served" in human.stdout
