"""Servers for the proxy and router tests: a fake upstream LLM that speaks the OpenAI chat-
completions protocol (JSON and server-sent events), a fake vLLM server hosting champions (the
`openai` backend's side), and a helper that runs any ASGI app with uvicorn on 127.0.0.1 in a
thread and stops it afterwards."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

STREAM_PAUSE_S = 0.4  # the fake upstream pauses this long after its first chunk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` on 127.0.0.1 in a thread; yields its base URL; stops it on exit."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    """What the fake model says: a tool call when tools are offered and the user asks for
    the weather, otherwise an echo of the last user turn."""
    last = next(
        (m.get("content") for m in reversed(request["messages"]) if m["role"] == "user"), ""
    )
    if request.get("tools") and "weather" in str(last):
        args = json.dumps({"city": "Paris", "unit": "celsius"})
        call = {
            "id": "call_w1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": args},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    return {"role": "assistant", "content": f"You said: {last} — noted, über-clear."}


def fake_upstream() -> FastAPI:
    """The fake LLM. `app.state.seen` keeps the Authorization header of each request,
    `app.state.requests` its headers and query string; `app.state.cut_off` counts streams
    that ended before their last event (the reader went away)."""
    app = FastAPI()
    app.state.seen = []
    app.state.requests = []
    app.state.cut_off = 0
    counter = {"n": 0}

    @app.post("/v1/chat/completions")
    async def chat(request: Request, answer: Response):
        app.state.seen.append(request.headers.get("authorization"))
        app.state.requests.append((dict(request.headers), request.url.query))
        body = await request.json()
        if body.get("model") == "missing-model":
            return JSONResponse({"error": {"message": "model not found"}}, 404)
        if body.get("model") == "odd-model":  # a 200 whose body is no chat completion
            return {"id": "odd-1", "object": "chat.completion", "answer": "42"}
        if body.get("model") == "text-model":  # a 200 whose body is not JSON
            return PlainTextResponse("the model is warming up")
        if body.get("model") == "empty-model":  # a stream without any chunk
            return StreamingResponse(iter([b"data: [DONE]\n\n"]), media_type="text/event-stream")
        counter["n"] += 1
        cid, created = f"chatcmpl-{counter['n']}", 1_760_000_000 + counter["n"]
        message = _answer(body)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not body.get("stream"):
            answer.set_cookie("session", f"s{counter['n']}")  # no proxy may send it back
            return {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        async def events():
            finished = False
            try:
                async for event in all_events():
                    yield event
                finished = True
            finally:
                app.state.cut_off += not finished

        async def all_events():
            yield chunk({"role": "assistant", "content": ""})
            await asyncio.sleep(STREAM_PAUSE_S)
            if message.get("tool_calls"):
                call = message["tool_calls"][0]
                args = call["function"]["arguments"]
                head = {
                    "index": 0,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                yield chunk({"tool_calls": [head]})
                for i in range(0, len(args), 7):
                    piece = {"index": 0, "function": {"arguments": args[i : i + 7]}}
                    yield chunk({"tool_calls": [piece]})
            else:
                text = message["content"]
                for i in range(0, len(text), 5):
                    yield chunk({"content": text[i : i + 5]})
            yield chunk({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                data = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": body["model"],
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(data)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        stream = StreamingResponse(events(), media_type="text/event-stream")
        stream.set_cookie("session", f"s{counter['n']}")  # no proxy may send it back
        return stream

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "fake-1", "object": "model"}]}

    return app


def read_sse(lines: Iterator[str]) -> dict[str, Any]:
    """How a client puts a streamed answer together (written here, independently of the
    proxy's own assembler): content, tool calls, finish reason, usage."""
    content, calls, finish, usage = None, {}, None, None
    for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        usage = event.get("usage") or usage
        for choice in event["choices"]:
            delta = choice["delta"]
            if delta.get("content") is not None:
                content = (content or "") + delta["content"]
            for tc in delta.get("tool_calls") or []:
                slot = calls.setdefault(tc["index"], {"id": None, "name": "", "arguments": ""})
                slot["id"] = tc.get("id") or slot["id"]
                slot["name"] += (tc.get("function") or {}).get("name") or ""
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {
        "content": content,
        "calls": [calls[i] for i in sorted(calls)],
        "finish": finish,
        "usage": usage,
    }


VLLM_CALL = '<tool_call>{"name": "list_all_airports", "arguments": {}}</tool_call>'


def fake_vllm(models: list[str]) -> FastAPI:
    """A vLLM server listing `models`; it keeps the adapters it was asked to load and the
    chat requests it answered (each with VLLM_CALL, every token at p = e^-0.01)."""
    app = FastAPI()
    app.state.loaded, app.state.asked = [], []

    @app.post("/v1/load_lora_adapter")
    async def load(request: Request):
        app.state.loaded.append(await request.json())
        return {"status": "ok"}

    @app.get("/v1/models")
    async def listed():
        return {"object": "list", "data": [{"id": m, "object": "model"} for m in models]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        app.state.asked.append(body)
        pieces = [VLLM_CALL[i : i + 6] for i in range(0, len(VLLM_CALL), 6)]  # its tokens
        logprobs = [{"token": p, "logprob": -0.01, "top_logprobs": []} for p in pieces]
        return {
            "id": "chatcmpl-v", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": {"content": logprobs},
                         "message": {"role": "assistant", "content": VLLM_CALL}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": len(pieces),
                      "total_tokens": 9 + len(pieces)},
        }  # fmt: skip

    return app
