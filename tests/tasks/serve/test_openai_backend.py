"""`serve.backend: openai`: the champions answered by an OpenAI-compatible server hosting the
adapters (here a fake one that speaks vLLM's side of the protocol: runtime adapter loading,
chat completions with logprobs, the tool-call grammar as `structured_outputs.grammar`)."""

from __future__ import annotations

import json

import httpx
import pytest
from testkit.openai_servers import fake_vllm, serving
from testkit.router_world import RAW_NAME, body_of, only_tool, running_router

pytestmark = pytest.mark.slow


def test_the_openai_backend_serves_through_a_server_hosting_the_adapters(served, upstream):
    world = served
    cfg = world.settings.serve
    server = fake_vllm(["base"])
    with serving(server) as vllm:
        cfg.backend, cfg.backend_url = "openai", f"{vllm}/v1"
        try:
            with running_router(world, upstream[1], record_decisions=False) as (router, url):
                airline = router.champions[world.clusters["tau2-airline"]]
                body = body_of(world.raw["tau2-airline"][-1], **only_tool("list_all_airports"))
                r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
                retail = body_of(world.raw["tau2-retail"][-1],
                                 **only_tool("list_all_product_types"))  # fmt: skip
                unsure = httpx.post(f"{url}/v1/chat/completions", json=retail, timeout=120)
        finally:
            cfg.backend, cfg.backend_url = "local", None

    assert {x["lora_name"] for x in server.state.loaded} >= {airline.adapter}
    assert r.status_code == 200 and r.headers["x-slimline-served-by"] == f"slm:{airline.name}"
    call = r.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "list_all_airports"
    assert json.loads(call["function"]["arguments"]) == {}
    asked = server.state.asked[0]
    assert asked["model"] == airline.adapter and asked["temperature"] == 0 and asked["logprobs"]
    assert "list_all_airports" in asked["structured_outputs"]["grammar"]
    # the context the adapter learnt is left out, though scrub rewrote it (matched by its key)
    assert all(m["role"] != "system" for m in asked["messages"])
    assert RAW_NAME not in json.dumps(asked) and "Airline Agent Policy" not in json.dumps(asked)
    # the server's logprobs are the confidence: 0.99 is below retail's 0.999
    assert unsure.headers["x-slimline-served-by"] == "upstream"
