"""The router on real components: tau2 calls clustered by the cluster stage, champions
(real PEFT adapters on a tiny Llama) promoted in MLflow, the logging proxy's relay to a fake
upstream that speaks the OpenAI protocol, the raw store and the work store."""

from __future__ import annotations

import json
import time

import httpx
import jsonschema
import pytest
from testkit.openai_servers import read_sse
from testkit.router_world import RAW_NAME, WEATHER, body_of, only_tool, running_router

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(world, upstream):
    from slimline.runtime import configure

    configure(world.settings)
    with running_router(world, upstream[1]) as (router, url):
        yield router, url


def decisions(world, router, n):
    from slimline.store import WorkStore

    router.decisions.flush()
    work = WorkStore(world.settings.work_store_url)
    try:
        return work.decisions(n)
    finally:
        work.close()


def raw_calls(world):
    from slimline.store import RawStore

    return RawStore(world.settings.raw_store_url).count_calls()


def wait_raw(world, n, timeout=20.0):
    deadline = time.monotonic() + timeout
    while raw_calls(world) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return raw_calls(world)


def airline_request(world, **extra):
    record = world.raw["tau2-airline"][-1]
    return record, body_of(record, **only_tool("list_all_airports"), **extra)


def test_a_call_of_a_promoted_cluster_is_answered_by_its_champion(world, upstream, live):
    router, url = live
    record, body = airline_request(world)
    champion = router.champions[world.clusters["tau2-airline"]]
    # the live prompt is raw: scrub rewrote the operator's name in what the adapter learnt,
    # so the texts differ; the keyed hash of the raw context still matches
    assert RAW_NAME in record.messages[0].text()
    assert not champion.context.matches(record)
    seen_before = len(upstream[0].state.seen)

    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)

    assert response.status_code == 200, response.text
    slug = world.models["tau2-airline"]
    assert response.headers["x-slimline-served-by"] == f"slm:{slug}@v1"
    answer = response.json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["list_all_airports"]
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    schema = next(t["function"]["parameters"] for t in record.tools
                  if t["function"]["name"] == "list_all_airports")  # fmt: skip
    jsonschema.validate(json.loads(calls[0]["function"]["arguments"]), schema)
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert len(upstream[0].state.seen) == seen_before  # the LLM was not asked

    row = decisions(world, router, 1)[0]
    assert row["served"] and row["reason"] == "served"
    assert (row["cluster_id"], row["model"], row["version"]) == (
        world.clusters["tau2-airline"], slug, 1,
    )  # fmt: skip
    assert row["threshold"] == 0.0 and 0.0 <= row["confidence"] <= 1.0
    assert row["status"] == 200 and row["latency_ms"] >= row["slm_ms"] > 0
    assert not any(isinstance(v, str) and RAW_NAME in v for v in row.values())


def test_a_low_confidence_answer_and_an_unknown_call_go_upstream(world, upstream, live):
    router, url = live
    before = raw_calls(world)
    retail = world.raw["tau2-retail"][-1]
    body = body_of(retail, **only_tool("list_all_product_types"))

    unsure = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
    unknown = httpx.post(f"{url}/v1/chat/completions", json=WEATHER, timeout=60)

    for response in (unsure, unknown):
        assert response.status_code == 200, response.text
        assert response.headers["x-slimline-served-by"] == "upstream"
    assert unknown.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == (
        "get_weather"
    )  # the upstream's answer, unchanged
    latest, first = decisions(world, router, 2)
    assert first["reason"] == "low_confidence" and not first["served"]
    assert first["cluster_id"] == world.clusters["tau2-retail"]
    assert first["confidence"] < first["threshold"] == 0.999
    assert latest["reason"] == "context_mismatch" and latest["cluster_id"] is None
    # the weather call belongs to no cluster at all by the saved model's rule
    from slimline.tasks.serve.openai import parse_request

    weather = parse_request(json.dumps(WEATHER).encode()).record
    assert router.assigner.assign(weather)[0] is None
    assert wait_raw(world, before + 2) == before + 2  # forwarded calls are recorded raw


def test_streams_on_both_paths(world, upstream, live):
    router, url = live
    before = raw_calls(world)
    _, body = airline_request(world, stream=True, stream_options={"include_usage": True})
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-slimline-served-by"].startswith("slm:")
        slm = read_sse(r.iter_lines())
    assert [c["name"] for c in slm["calls"]] == ["list_all_airports"]
    assert json.loads(slm["calls"][0]["arguments"]) == {}
    assert slm["finish"] == "tool_calls" and slm["usage"]["completion_tokens"] > 0

    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json={**WEATHER, "tools": [], "stream": True},
        timeout=60,
    ) as r:  # fmt: skip
        assert r.status_code == 200 and r.headers["x-slimline-served-by"] == "upstream"
        llm = read_sse(r.iter_lines())
    assert llm["content"].startswith("You said: What is the weather") and llm["finish"] == "stop"
    rows = decisions(world, router, 2)
    assert [r["stream"] for r in rows] == [True, True]
    assert [r["served"] for r in rows] == [False, True]
    assert wait_raw(world, before + 1) == before + 1  # the streamed LLM answer, assembled


def test_bad_input_is_a_400_recorded_nowhere(world, live):
    router, url = live
    before_raw, before_rows = raw_calls(world), len(decisions(world, router, None))
    for content in (b"{not json", b"[1, 2]", b'{"model": "m", "messages": []}',
                    b'{"messages": [{"role": "wizard", "content": "hi"}]}'):  # fmt: skip
        r = httpx.post(f"{url}/v1/chat/completions", content=content, timeout=30)
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
    time.sleep(0.5)
    assert raw_calls(world) == before_raw
    assert len(decisions(world, router, None)) == before_rows


def test_an_upstream_that_fails_is_a_502_with_the_reason(world):
    from testkit.openai_servers import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    with running_router(world, dead, record_decisions=False) as (_, url):
        r = httpx.post(f"{url}/v1/chat/completions", json=WEATHER, timeout=60)
    assert r.status_code == 502
    assert r.headers["x-slimline-served-by"] == "upstream"
    assert "could not be reached (ClientConnectorError" in r.json()["error"]["message"]


def test_a_broken_champion_sends_its_cluster_upstream_with_the_reason(world, upstream, live):
    from testkit.router_world import promote
    from testkit.tiny_adapters import build_adapter

    router, url = live
    cid, slug = world.clusters["tau2-retail"], world.models["tau2-retail"]
    folder = build_adapter(world.tiny_base, world.adapters["tau2-retail"].parent / "broken", 3,
                           _context(world, cid))  # fmt: skip
    (folder / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    promote(world.settings, cid, slug, folder, world.tiny_base, 0.0)  # a new, broken champion

    reloaded = httpx.post(f"{url}/slimline/champions/reload", timeout=120)
    assert reloaded.status_code == 200, reloaded.text
    state = reloaded.json()
    assert "failed to load" in state["disabled"][str(cid)]
    assert str(world.clusters["tau2-airline"]) in state["champions"]  # the others still serve
    retail = body_of(world.raw["tau2-retail"][-1], **only_tool("list_all_product_types"))
    r = httpx.post(f"{url}/v1/chat/completions", json=retail, timeout=120)
    assert r.status_code == 200 and r.headers["x-slimline-served-by"] == "upstream"
    row = decisions(world, router, 1)[0]
    assert (row["cluster_id"], row["reason"]) == (cid, "champion_disabled")


def _context(world, cid):
    from slimline.prompt import distilled_context
    from slimline.store import WorkStore

    work = WorkStore(world.settings.work_store_url)
    try:
        return distilled_context(work.cluster_calls(cid)).to_dict()
    finally:
        work.close()


def test_the_router_says_what_it_serves(live):
    _, url = live
    state = httpx.get(f"{url}/slimline/router", timeout=10).json()
    assert set(state) >= {"champions", "disabled", "broken"}


def test_status_and_report_show_the_live_figures_beside_the_held_out_ones(world, live):
    from typer.testing import CliRunner

    from slimline.cli import app
    from slimline.store import WorkStore
    from slimline.tasks.report.summary import served_summary, summary_markdown

    router, _ = live
    router.decisions.flush()
    result = CliRunner().invoke(app, ["--home", str(world.settings.home), "status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    held_out = {"raw_calls", "quarantined", "scrubbed_calls", "clusters", "registered_models",
                "champions", "served_share"}  # fmt: skip
    assert held_out <= status.keys()
    assert status["routed_calls"] >= 6
    assert 0 < status["live_served_share"] < 1
    assert status["fallbacks"]["low_confidence"] >= 1
    assert status["fallbacks"]["context_mismatch"] >= 2

    work = WorkStore(world.settings.work_store_url)
    summary = served_summary(world.settings, work)
    work.close()
    assert summary["live"]["routed_calls"] == status["routed_calls"]
    airline = summary["live"]["live_clusters"][str(world.clusters["tau2-airline"])]
    assert airline["served"] >= 2 and airline["served_share"] == 1.0
    assert "live traffic through the router" in summary_markdown(summary)


def test_each_routed_call_is_an_mlflow_trace_with_its_steps_and_no_content(world, live):
    import mlflow

    router, url = live
    mlflow.set_tracking_uri(world.settings.mlflow_tracking_uri)
    experiment = mlflow.get_experiment_by_name(world.settings.tracking.experiment)

    def traces():
        router.decisions.flush()  # the earlier calls' traces are written, and exported
        router.decisions.traces.flush()
        return mlflow.search_traces(locations=[experiment.experiment_id], return_type="list")

    cfg = router.settings.serve
    sample = cfg.traces_sample
    try:
        cfg.traces_sample = 1.0  # every call
        before = len(traces())
        record, body = airline_request(world)
        served = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
        unknown = httpx.post(f"{url}/v1/chat/completions", json=WEATHER, timeout=60)
        found = traces()
        cfg.traces_sample = 0.0  # a call no champion took up is not traced; the others are
        httpx.post(f"{url}/v1/chat/completions", json=WEATHER, timeout=60)
        httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
        assert len(traces()) == len(found) + 1
    finally:
        cfg.traces_sample = sample
    assert served.headers["x-slimline-served-by"] != "upstream"
    assert unknown.headers["x-slimline-served-by"] == "upstream"
    assert len(found) == before + 2  # one trace per call
    by_who = {}
    newest = sorted(found, key=lambda t: t.info.timestamp_ms)[-2:]
    for trace in newest:
        root = next(s for s in trace.data.spans if s.parent_id is None)
        by_who[root.attributes["slimline.served_by"]] = trace
    slm = by_who[served.headers["x-slimline-served-by"]]
    names = {s.name for s in slm.data.spans}
    assert {"chat.completions", "context match", "cluster assignment", "slm generation",
            "validation", "slm answer"} <= names  # fmt: skip
    generation = next(s for s in slm.data.spans if s.name == "slm generation")
    assert 0.0 <= generation.attributes["slimline.confidence"] <= 1.0
    fallback = by_who["upstream"]
    step = next(s for s in fallback.data.spans if s.name == "fallback to the LLM")
    assert step.attributes["slimline.reason"] == "context_mismatch"
    assert step.end_time_ns > step.start_time_ns
    # no message content, by default: neither the agent's words nor the tools' descriptions
    for trace in (slm, fallback):
        text = trace.to_json()
        assert record.messages[-1].text()[:40] not in text
        assert RAW_NAME not in text
        assert WEATHER["messages"][-1]["content"] not in text
