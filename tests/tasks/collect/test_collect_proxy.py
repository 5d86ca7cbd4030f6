"""The logging proxy against a fake upstream that speaks the OpenAI protocol (the LLM is
outside the product), with a real HTTP client: answers come back unchanged, streams pass
through as they arrive, and the recorded calls equal what the client saw."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from collect_otlp_data import TRACE, current_span, export, span
from testkit.openai_servers import STREAM_PAUSE_S, fake_upstream, free_port, read_sse, serving

from slimline.record import Message
from slimline.store import RawStore
from slimline.tasks.collect.proxy import create_app

SECRET = "sk-test-SECRET-0451"
AUTH = {"Authorization": f"Bearer {SECRET}", "X-Slimline-Agent": "weather-bot"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def request_body(text: str, stream: bool = False, tools: bool = False) -> dict:
    body = {
        "model": "fake-1",
        "messages": [
            {"role": "system", "content": "You help travellers."},
            {"role": "user", "content": text},
        ],
        "stream": stream,
    }
    if tools:
        body["tools"] = TOOLS
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


@pytest.fixture(scope="module")
def upstream():
    app = fake_upstream()
    with serving(app) as url:
        yield url, app


@pytest.fixture
def proxy(settings, upstream):
    app = create_app(f"{upstream[0]}/v1", settings.raw_store_url, settings.collect)
    with serving(app) as url:
        yield url


def wait_written(client: httpx.Client, n: int, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = client.get("/slimline/stats").json()
        if stats["written"] + stats["duplicates"] >= n or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def recorded(settings) -> dict[str, object]:
    store = RawStore(settings.raw_store_url)
    try:
        return {rec.metadata["response_id"]: rec for _, rec in store.iter_calls()}
    finally:
        store.close()


def nothing_holds_the_secret(home: Path) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_calls_come_back_unchanged_and_are_recorded_as_the_client_saw_them(
    settings, proxy, upstream
):
    with httpx.Client(base_url=proxy, timeout=30) as client:
        plain = client.post("/v1/chat/completions", json=request_body("Hi there"), headers=AUTH)
        tool = client.post(
            "/v1/chat/completions", json=request_body("weather in Paris?", tools=True), headers=AUTH
        )
        assert plain.status_code == 200 and tool.status_code == 200
        assert plain.headers["content-type"] == "application/json"
        stats = wait_written(client, 2)
    assert stats["written"] == 2 and stats["dropped"] == 0
    assert upstream[1].state.seen[-2:] == [f"Bearer {SECRET}"] * 2  # passed on ...
    calls = recorded(settings)
    for answer, sent in ((plain.json(), request_body("Hi there")), (tool.json(), None)):
        rec = calls[answer["id"]]
        assert rec.response == Message.model_validate(answer["choices"][0]["message"])
        assert rec.prompt_tokens == answer["usage"]["prompt_tokens"]
        assert rec.agent == "weather-bot" and rec.source == "proxy"
        assert rec.metadata["finish_reason"] == answer["choices"][0]["finish_reason"]
        if sent:
            assert [m.model_dump(exclude_none=True) for m in rec.messages] == sent["messages"]
    tool_rec = calls[tool.json()["id"]]
    assert (
        tool_rec.tools == TOOLS and tool_rec.response.tool_calls[0].function.name == "get_weather"
    )
    assert (
        plain.json()["choices"][0]["message"]["content"]
        == "You said: Hi there — noted, über-clear."
    )
    nothing_holds_the_secret(settings.path())  # ... and never stored


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool-call"])
def test_streams_pass_through_as_they_arrive_and_the_assembled_answer_is_recorded(
    settings, proxy, tools
):
    text = "weather in Paris?" if tools else "Tell me a long story"
    with httpx.Client(base_url=proxy, timeout=30) as client:
        started, first, lines = time.monotonic(), None, []
        body = request_body(text, stream=True, tools=tools)
        with client.stream("POST", "/v1/chat/completions", json=body, headers=AUTH) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: ") and first is None:
                    first = time.monotonic() - started
                lines.append(line)
        total = time.monotonic() - started
        wait_written(client, 1)
    # the first event reached the client before the upstream had sent the rest
    assert first < total - STREAM_PAUSE_S * 0.75
    seen = read_sse(iter(lines))
    event = json.loads(lines[0][6:])
    (rec,) = recorded(settings).values()
    assert rec.metadata["response_id"] == event["id"] and rec.metadata["streamed"] is True
    assert rec.response.content == seen["content"]
    assert [
        {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
        for c in rec.response.tool_calls or []
    ] == seen["calls"]
    assert rec.metadata["finish_reason"] == seen["finish"]
    assert (
        (rec.prompt_tokens, rec.completion_tokens)
        == (11, 7)
        == (
            seen["usage"]["prompt_tokens"],
            seen["usage"]["completion_tokens"],
        )
    )
    if tools:
        assert json.loads(rec.response.tool_calls[0].function.arguments) == {
            "city": "Paris",
            "unit": "celsius",
        }
    nothing_holds_the_secret(settings.path())


def test_upstream_errors_pass_through_and_other_routes_are_forwarded(settings, proxy):
    with httpx.Client(base_url=proxy, timeout=30) as client:
        missing = client.post(
            "/v1/chat/completions", json={**request_body("x"), "model": "missing-model"}
        )
        assert (
            missing.status_code == 404 and missing.json()["error"]["message"] == "model not found"
        )
        assert client.get("/v1/models").json()["data"][0]["id"] == "fake-1"
        time.sleep(0.3)
        assert client.get("/slimline/stats").json()["queued"] == 0  # errors are not calls
        odd = client.post("/v1/chat/completions", json={**request_body("x"), "model": "odd-model"})
        assert odd.json() == {"id": "odd-1", "object": "chat.completion", "answer": "42"}
        deadline = time.monotonic() + 10
        while client.get("/slimline/stats").json()["quarantined"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    store = RawStore(settings.raw_store_url)
    (q,) = store.list_quarantined()
    assert (q.source, q.location, q.reason) == (
        "proxy",
        "call odd-1, response",
        "field 'choices': missing",
    )
    store.close()
    down = create_app("http://127.0.0.1:9/v1", settings.raw_store_url, settings.collect)
    with serving(down) as url, httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post("/v1/chat/completions", json=request_body("x"))
        assert answer.status_code == 502 and answer.json()["error"]["type"] == "upstream_error"


def test_a_slow_store_does_not_hold_up_serving_and_loses_nothing(settings, proxy):
    RawStore(settings.raw_store_url).close()  # created and migrated
    lock = sqlite3.connect(settings.path("raw.db"), timeout=30)
    lock.execute("BEGIN EXCLUSIVE")  # every writer now waits
    try:
        with httpx.Client(base_url=proxy, timeout=30) as client:
            for n in range(3):
                started = time.monotonic()
                ok = client.post("/v1/chat/completions", json=request_body(f"call {n}"))
                assert ok.status_code == 200 and time.monotonic() - started < 5
            time.sleep(0.3)
            assert client.get("/slimline/stats").json()["written"] == 0
            lock.rollback()
            stats = wait_written(client, 3)
    finally:
        lock.close()
    assert stats["written"] == 3 and stats["dropped"] == 0


def test_a_store_that_is_down_does_not_stop_serving_and_drops_are_counted(
    settings, upstream, caplog
):
    settings.collect.proxy_queue_size = 2
    settings.collect.proxy_drain_s = 0.5
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    app = create_app(f"{upstream[0]}/v1", unreachable, settings.collect)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        answers = [
            client.post("/v1/chat/completions", json=request_body(f"n{n}")) for n in range(6)
        ]
        assert all(a.status_code == 200 for a in answers)
        deadline = time.monotonic() + 10
        while (stats := client.get("/slimline/stats").json())["store_errors"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert stats["dropped"] >= 3 and stats["written"] == 0 and stats["store_errors"] >= 1
    assert "a recorded call was dropped" in caplog.text
    assert caplog.text.count("cannot write to the raw store") == 1  # once, not per retry


def test_otlp_http_json_and_protobuf_spans_are_recorded(settings, proxy):
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    bad = span("eeeeeeeeeeeeeeee", {"gen_ai.operation.name": "chat"})
    with httpx.Client(base_url=proxy, timeout=30) as client:
        answer = client.post("/v1/traces", json=export(current_span(), bad))
        assert answer.status_code == 200
        assert answer.json()["partialSuccess"]["rejectedSpans"] == "1"
        # the same span again, as protobuf (ids as bytes): one call, not two
        pb = ParseDict(export(current_span("00f067aa0ba902b7")), ExportTraceServiceRequest())
        sp = pb.resource_spans[0].scope_spans[0].spans[0]
        sp.trace_id, sp.span_id = bytes.fromhex(TRACE), bytes.fromhex("00f067aa0ba902b7")
        answer = client.post(
            "/v1/traces",
            content=pb.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert answer.status_code == 200
        ExportTraceServiceResponse().ParseFromString(answer.content)
        other = client.post("/v1/traces", json=export(current_span("00f067aa0ba902b9")))
        assert other.status_code == 200
        stats = wait_written(client, 3)
        assert client.post("/v1/traces", content=b"{nope").status_code == 400
    assert (stats["written"], stats["duplicates"]) == (2, 1)
    store = RawStore(settings.raw_store_url)
    assert store.count_calls() == 2
    reasons = [q.reason for q in store.list_quarantined()]
    assert any("no input messages" in r for r in reasons)
    assert store.get_watermark("otlp:proxy")["last_span_time"].startswith("2025-10-09")
    store.close()


def test_the_upstream_gets_the_callers_headers_and_query_and_nothing_more(settings, upstream):
    # by name: some clients keep no cookies for a bare IP address
    named = upstream[0].replace("127.0.0.1", "localhost")
    app = create_app(f"{named}/v1", settings.raw_store_url, settings.collect)
    headers = {**AUTH, "X-Slimline-Conversation": "c-7", "X-Request-Id": "r-42"}
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        for n in range(2):
            answer = client.post(
                "/v1/chat/completions?api-version=2024-06-01",
                json=request_body(f"call {n}"),
                headers=headers,
            )
            assert answer.status_code == 200
            assert answer.headers["set-cookie"].startswith("session=")  # the caller's to keep
            client.cookies.clear()  # ... and this caller does not send it back
        wait_written(client, 2)
    for seen, query in upstream[1].state.requests[-2:]:
        assert query == "api-version=2024-06-01"
        assert seen["authorization"] == f"Bearer {SECRET}" and seen["x-request-id"] == "r-42"
        assert not [k for k in seen if k.startswith("x-slimline-")]
        assert "cookie" not in seen  # the proxy keeps no cookies from one call to the next
    assert {rec.conversation_id for rec in recorded(settings).values()} == {"c-7"}


@pytest.mark.parametrize(
    ("model", "stream", "reason"),
    [
        ("text-model", False, "the upstream answered 200 with a body that is not JSON"),
        ("empty-model", True, "a stream without any chat completion chunk"),
        ("fake-1", False, "request body over 2,000 bytes"),
        ("fake-1", True, "request body over 2,000 bytes"),
    ],
    ids=["not-json", "empty-stream", "too-big", "too-big-stream"],
)
def test_a_call_that_cannot_be_recorded_is_answered_and_set_aside_with_its_reason(
    settings, upstream, model, stream, reason
):
    settings.collect.max_line_bytes = 2_000
    text = "x" * (3_000 if "over" in reason else 10)
    body = {**request_body(text, stream=stream), "model": model}
    app = create_app(f"{upstream[0]}/v1", settings.raw_store_url, settings.collect)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post("/v1/chat/completions", json=body, headers=AUTH)
        assert answer.status_code == 200 and answer.content  # answered unchanged all the same
        deadline = time.monotonic() + 20
        while client.get("/slimline/stats").json()["quarantined"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    store = RawStore(settings.raw_store_url)
    try:
        (q,) = store.list_quarantined()
        assert store.count_calls() == 0
    finally:
        store.close()
    assert (q.source, q.reason) == ("proxy", reason) and q.location.startswith("call at ")
    if "over" in reason:  # the start of the request body, for whoever looks into it
        assert q.raw_text.startswith('{"model"') and "x" * 100 in q.raw_text
    nothing_holds_the_secret(settings.path())


def test_a_caller_that_leaves_mid_stream_is_not_recorded_and_the_upstream_is_let_go(
    settings, proxy, upstream
):
    cut_off = upstream[1].state.cut_off
    with httpx.Client(base_url=proxy, timeout=30) as client:
        body = request_body("Tell me a long story", stream=True)
        with client.stream("POST", "/v1/chat/completions", json=body, headers=AUTH) as r:
            first = next(r.iter_lines())
            assert first.startswith("data: ")
        # gone after the first event, while the upstream pauses: the proxy lets it go too
        deadline = time.monotonic() + 10
        while upstream[1].state.cut_off == cut_off:
            assert time.monotonic() < deadline, "the upstream's stream was not closed"
            time.sleep(0.05)
        whole = client.post("/v1/chat/completions", json=request_body("and now?"), headers=AUTH)
        assert whole.status_code == 200  # the proxy goes on serving
        stats = wait_written(client, 1)
    assert (stats["queued"], stats["written"], stats["dropped"]) == (1, 1, 0)
    assert [rec.response.content for rec in recorded(settings).values()] == [
        whole.json()["choices"][0]["message"]["content"]
    ]


def test_a_writer_process_that_dies_is_started_again_and_no_call_is_lost(settings, upstream):
    app = create_app(f"{upstream[0]}/v1", settings.raw_store_url, settings.collect)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/v1/chat/completions", json=request_body("one")).status_code == 200
        wait_written(client, 1)
        writer = app.state.recorder.writer_process()
        writer.kill()  # e.g. the OOM killer
        writer.join(10)
        for text in ("two", "three"):
            answer = client.post("/v1/chat/completions", json=request_body(text))
            assert answer.status_code == 200
        stats = wait_written(client, 3)
        assert app.state.recorder.writer_process().pid != writer.pid
    assert (stats["written"], stats["dropped"]) == (3, 0)
    assert len(recorded(settings)) == 3


def test_ctrl_c_stops_the_proxy_after_it_wrote_what_it_had_and_prints_the_counts(
    settings, upstream
):
    port = free_port()
    command = [sys.executable, "-m", "slimline", "--home", str(settings.path()), "proxy"]
    command += ["--upstream", f"{upstream[0]}/v1", "--port", str(port), "--json"]
    command += ["--seconds", "120"]  # it stops itself whatever happens here
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/slimline/stats", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        calls = [request_body(f"call {n}") for n in range(3)]
        for body in calls:
            assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 200
        proc.send_signal(signal.SIGINT)  # at once: the calls are still on their way
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    final = json.loads(out)
    assert (final["queued"], final["written"], final["dropped"]) == (3, 3, 0)
    assert len(recorded(settings)) == 3
