"""Shadow checks: served calls also asked of the LLM in the background; a champion whose
live agreement falls below the target stops serving its cluster, its figures in MLflow."""

from __future__ import annotations

import time

import httpx
import pytest
from testkit.router_world import body_of, only_tool, running_router

pytestmark = pytest.mark.slow


def test_a_champion_that_disagrees_with_the_llm_live_stops_serving(served, upstream):
    from slimline.store import RawStore
    from slimline.tracking import client

    world = served
    cfg = world.settings.serve
    cfg.shadow_fraction, cfg.shadow_min_calls, cfg.shadow_target = 1.0, 2, 0.9
    body = body_of(world.raw["tau2-airline"][-1], **only_tool("list_all_airports"))
    seen_before = len(upstream[0].state.seen)
    raw = RawStore(world.settings.raw_store_url)
    last_seq = raw.max_seq()
    try:
        with running_router(world, upstream[1], record_decisions=False) as (router, url):
            champion = router.champions[world.clusters["tau2-airline"]]
            who = []
            for _ in range(2):  # served; the LLM (a text answer here) disagrees in the shadow
                r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
                assert r.status_code == 200
                who.append(r.headers["x-slimline-served-by"])
                deadline = time.monotonic() + 30
                while len(upstream[0].state.seen) < seen_before + len(who):
                    assert time.monotonic() < deadline, "no shadow call reached the LLM"
                    time.sleep(0.05)
            time.sleep(0.5)
            deadline = time.monotonic() + 20  # the proxy's writer stores them in the background
            while raw.max_seq() == last_seq and time.monotonic() < deadline:
                time.sleep(0.1)
            # the LLM's shadow answers are in the raw store, for the next night to learn from
            shadowed = [record for _, record in raw.iter_calls(last_seq)]
            state = httpx.get(f"{url}/slimline/router", timeout=10).json()
            after = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
            router.pool.shutdown(wait=True)  # the MLflow figures are logged from the pool
    finally:
        cfg.shadow_fraction, cfg.shadow_min_calls, cfg.shadow_target = 0.0, 20, None

    assert who == [f"slm:{champion.name}"] * 2
    assert state["shadow"][champion.name] == {"calls": 2, "agreement": 0.0}
    cid = str(world.clusters["tau2-airline"])
    assert "shadow agreement 0.00 on 2 calls, below 0.90" in state["disabled"][cid]
    assert after.headers["x-slimline-served-by"] == "upstream"
    history = client(world.settings).get_metric_history(champion.run_id, "shadow.agreement")
    assert [m.value for m in history][-1] == 0.0
    raw.close()
    assert shadowed and all(not r.response.tool_calls for r in shadowed)  # the LLM's text
    assert all(r.messages[-1].text() == body["messages"][-1]["content"] for r in shadowed)
