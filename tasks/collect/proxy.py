"""`slimline proxy`: an OpenAI-compatible logging proxy and an OTLP/HTTP endpoint.

- `POST /v1/chat/completions` is forwarded to the upstream (`{upstream}/chat/completions`)
  with the caller's headers (Authorization included: passed on, never stored); the answer
  comes back unchanged, a stream chunk by chunk as it arrives. The call (request body and
  the answer, assembled when streamed) is queued for the raw store; see recorder.py.
- `POST /v1/traces` takes OTLP/HTTP trace exports (JSON, or protobuf when the OpenTelemetry
  proto package is installed; gzip allowed) and records their GenAI spans.
- Any other `/v1/...` request is forwarded unrecorded (e.g. `GET /v1/models`).
- `GET /slimline/stats`: the recorder's counts (queued, written, dropped, ...).

Optional headers the proxy reads and does not forward: `X-Slimline-Agent` (the agent's
name) and `X-Slimline-Conversation` (a conversation id).

With a `router` (tasks/serve: `slimline serve`), each chat call goes to the router first; it
answers with a small model or hands the call back to this relay (`relay(...)`), so the
fallback path forwards and records exactly as the proxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from yarl import URL

from slimline.tasks.collect.formats import RecordBuilder
from slimline.tasks.collect.otlp import records_from_otlp
from slimline.tasks.collect.recorder import Call, Quarantine, Recorder, Spans
from slimline.tasks.collect.stream import StreamAssembler

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from slimline.config import Settings
    from slimline.tasks.collect.config import CollectConfig

log = logging.getLogger("slimline.collect.proxy")

_NOT_FORWARDED = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "accept-encoding",  # the proxy reads the answer, so it asks for it uncompressed
}
_NOT_RETURNED = {"content-length", "content-encoding", "transfer-encoding", "connection"}


def _request_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The caller's headers (an ASGI scope's) that go on to the upstream."""
    out = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name not in _NOT_FORWARDED and not name.startswith("x-slimline-"):
            out[name] = value.decode("latin-1")
    return out


def _header(raw: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in raw if k.lower() == name), None)


def _response_headers(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _NOT_RETURNED}


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _upstream_error(exc: BaseException, headers: dict[str, str] | None = None) -> JSONResponse:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    message = f"slimline proxy: the upstream could not be reached ({reason})"
    return JSONResponse(
        {"error": {"message": message, "type": "upstream_error"}}, 502, headers=headers
    )


async def _read_body(receive: Receive) -> bytes | None:
    """The request body; None when the caller went away before sending all of it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    """A whole response, with its length (as Starlette's Response would send it)."""
    raw = _encoded(headers)
    if not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _ProxyApp(FastAPI):
    """FastAPI for every route but the busiest: POST /v1/chat/completions goes straight to
    `chat_completions`, a plain ASGI callable. FastAPI's routing, middleware and wrappers
    around each sent message took about a fifth of the event loop's time per relayed call
    (py-spy, benchmarks/bench_proxy.py)."""

    chat_completions: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.chat_completions is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == "/v1/chat/completions"
        ):
            await self.chat_completions(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


# what an unreachable, refusing or broken upstream raises
_UPSTREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def _env_proxy(url: str) -> str | None:
    """The HTTP proxy the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) names for `url`."""
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _upstream_session(config: CollectConfig) -> aiohttp.ClientSession:
    """The client for the upstream: one keep-alive connection per call in flight (no pool
    limit: the proxy queues nothing that the caller would not queue calling directly), no
    cookie jar (callers must not share cookies), no netrc lookups, no invented headers."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(
            total=None,
            connect=config.proxy_timeout_s,
            sock_connect=10.0,
            sock_read=config.proxy_timeout_s,
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("Content-Type",),
        trust_env=False,
    )


def create_app(upstream: str, store_url: str, config: CollectConfig, router: Any = None) -> FastAPI:
    """The proxy app; the recorder thread and the upstream client live as long as the app.

    The event loop only moves bytes: a chat call's request and answer are handed to the
    recorder as they crossed the wire, and its thread parses, checks and stores them.
    `router` (optional) takes each chat call first: `await router.handle(scope, receive,
    send, body, relay)`; it starts and stops with the app (`start(app)`, `stop()`) and may
    add routes (`install(app)`).
    """
    base = upstream.rstrip("/")
    proxy = _env_proxy(base)
    recorder = Recorder(
        store_url, maxsize=config.proxy_queue_size, text_bytes=config.quarantine_text_bytes
    )
    span_builder = RecordBuilder(cache=False, default_agent=config.default_agent)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.client = _upstream_session(config)
        recorder.start()
        if router is not None:
            await router.start(app)
        try:
            yield
        finally:
            if router is not None:
                await router.stop()
            await app.state.client.close()
            await asyncio.to_thread(recorder.stop, config.proxy_drain_s)

    app = _ProxyApp(title="slimline proxy", lifespan=lifespan)
    app.state.recorder = recorder

    def upstream_url(path: str, scope: Scope) -> URL:
        query = scope.get("query_string", b"").decode("latin-1")
        return URL(f"{base}/{path}?{query}" if query else f"{base}/{path}", encoded=True)

    async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return  # the caller went away: nothing to forward
        if router is not None:
            await router.handle(scope, receive, send, body, relay)
        else:
            await relay(scope, receive, send, body)

    def recorded(
        body: bytes,
        answer: bytes | StreamAssembler,
        started: float,
        headers_in: list[tuple[bytes, bytes]],
        streamed: bool,
    ) -> Call:
        """The call for the recorder, which parses, checks and stores it."""
        too_big = len(body) > config.max_line_bytes
        return Call(
            # a body over the limit is set aside, not parsed: only its start is kept
            request=body[: 4 * config.quarantine_text_bytes] if too_big else body,
            response=answer,
            timestamp=_now(),
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            agent=_header(headers_in, b"x-slimline-agent"),
            conversation_id=_header(headers_in, b"x-slimline-conversation"),
            streamed=streamed,
            set_aside=f"request body over {config.max_line_bytes:,} bytes" if too_big else None,
        )

    async def relay(
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        extra_headers: dict[str, str] | None = None,
    ) -> int:
        """Forward one chat call upstream, pass the answer back, record it; returns the
        status sent to the caller (502: the upstream failed; 0: the caller went away)."""
        started = time.perf_counter()
        headers_in = scope["headers"]
        client: aiohttp.ClientSession = app.state.client
        try:
            upstream_response = await client.post(
                upstream_url("chat/completions", scope),
                data=body,
                headers=_request_headers(headers_in),
                proxy=proxy,
            )
        except _UPSTREAM_ERRORS as exc:
            await _upstream_error(exc, extra_headers)(scope, receive, send)
            return 502
        status = upstream_response.status
        headers = _response_headers(upstream_response.headers)
        if extra_headers:
            headers.update(extra_headers)
        is_stream = "text/event-stream" in upstream_response.headers.get("content-type", "")

        def call(answer: bytes | StreamAssembler) -> Call:
            return recorded(body, answer, started, headers_in, is_stream)

        if not is_stream:
            try:
                content = await upstream_response.read()
            except _UPSTREAM_ERRORS as exc:
                upstream_response.close()
                await _upstream_error(exc, extra_headers)(scope, receive, send)
                return 502
            upstream_response.release()
            if status == 200:  # errors pass through and are not calls
                recorder.submit(call(content))
            await _respond(send, status, headers, content)
            return status

        # a stream: each chunk is passed on as it arrives; if the caller goes away, the
        # upstream's stream is closed (no call to record)
        assembler = StreamAssembler()
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            upstream_response.close()

        watcher = asyncio.ensure_future(watch())
        finished = False
        try:
            await send(
                {"type": "http.response.start", "status": status, "headers": _encoded(headers)}
            )
            async for chunk in upstream_response.content.iter_any():
                assembler.add(chunk)  # kept as bytes: parsed by the writer
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finished = not gone
            if finished:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except _UPSTREAM_ERRORS:
            if not gone:
                raise  # the upstream broke off: the caller's response ends unfinished
        finally:
            watcher.cancel()
            if finished:
                upstream_response.release()
            else:
                upstream_response.close()
            if finished and status == 200:  # else an error, or no call to record
                recorder.submit(call(assembler))
        return status if finished else 0

    async def forward(body: bytes, scope: Scope, record: bool = False) -> tuple[int, bytes]:
        """Send a chat call upstream with the caller's headers and read the whole answer
        (the router's shadow checks); a 200 answer is recorded in the raw store like a relayed
        call when `record` is set; raises the client's errors."""
        started = time.perf_counter()
        client: aiohttp.ClientSession = app.state.client
        async with client.post(
            upstream_url("chat/completions", scope),
            data=body,
            headers=_request_headers(scope["headers"]),
            proxy=proxy,
        ) as answer:
            status, content = answer.status, await answer.read()
        if record and status == 200:
            recorder.submit(recorded(body, content, started, scope["headers"], False))
        return status, content

    app.chat_completions = chat_completions
    app.state.relay = relay
    app.state.forward = forward
    if router is not None:
        router.install(app)

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        body = await request.body()
        received = _now()
        if len(body) > config.max_line_bytes:
            return JSONResponse({"error": f"body over {config.max_line_bytes} bytes"}, 413)
        try:
            if request.headers.get("content-encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            protobuf = "protobuf" in request.headers.get("content-type", "")
            export = _from_protobuf(body) if protobuf else json.loads(body)
        except (OSError, ValueError, RuntimeError) as exc:
            reason = f"not an OTLP/HTTP trace export: {exc}"
            raw = body.decode("utf-8", "backslashreplace")[: config.quarantine_text_bytes]
            recorder.submit(Quarantine("otlp", f"request at {received}", reason, raw))
            return JSONResponse({"error": reason}, 400)
        if not isinstance(export, dict):
            return JSONResponse({"error": "an OTLP export must be a JSON object"}, 400)
        where = f"request at {received}"
        try:
            parsed = await asyncio.to_thread(records_from_otlp, export, "otlp", where, span_builder)
        except Exception as exc:  # an export of a shape nobody foresaw: set aside, say why
            reason = f"cannot be read: {type(exc).__name__}: {exc}"[:1000]
            raw = body.decode("utf-8", "backslashreplace")[: config.quarantine_text_bytes]
            recorder.submit(Quarantine("otlp", where, reason, raw))
            return JSONResponse({"error": reason}, 400)
        if parsed.records:
            last = max(r.timestamp for r in parsed.records).isoformat()
            recorder.submit(Spans(parsed.records, last))
        for problem in parsed.problems:
            recorder.submit(Quarantine("otlp", problem.location, problem.reason, problem.raw_text))
        rejected = len(parsed.problems)
        message = f"{rejected} spans could not be read; see `slimline quarantine`"
        if protobuf:
            return Response(
                _protobuf_answer(rejected, message), media_type="application/x-protobuf"
            )
        partial = {"rejectedSpans": str(rejected), "errorMessage": message} if rejected else None
        return JSONResponse({"partialSuccess": partial} if partial else {})

    @app.get("/slimline/stats")
    async def stats() -> dict[str, int]:
        return {**recorder.stats, "in_queue": recorder.queue.qsize()}

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def passthrough(path: str, request: Request) -> Response:
        client: aiohttp.ClientSession = request.app.state.client
        try:
            async with client.request(
                request.method,
                upstream_url(path, request.scope),
                data=await request.body(),
                headers=_request_headers(request.scope["headers"]),
                proxy=proxy,
            ) as answer:
                content = await answer.read()
        except _UPSTREAM_ERRORS as exc:
            return _upstream_error(exc)
        return Response(content, answer.status, headers=_response_headers(answer.headers))

    return app


def _from_protobuf(body: bytes) -> dict[str, Any]:
    try:
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
    except ImportError:
        raise RuntimeError("protobuf needs the opentelemetry-proto package; send JSON") from None
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError
        raise ValueError(f"bad protobuf: {exc}") from None
    return MessageToDict(message)


def _protobuf_answer(rejected: int, message: str) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    answer = ExportTraceServiceResponse()
    if rejected:
        answer.partial_success.rejected_spans = rejected
        answer.partial_success.error_message = message
    return answer.SerializeToString()


def serve(
    settings: Settings,
    upstream: str,
    host: str | None = None,
    port: int | None = None,
    seconds: float | None = None,
    router: Any = None,
) -> dict[str, int]:
    """Run the proxy (with `router`: the router, see `create_app`) until Ctrl-C (or for
    `seconds`); returns the recorder's final counts.

    uvicorn picks uvloop and httptools (dependencies): against asyncio's loop and h11 the
    proxy spends ~15% less CPU per JSON call with them and ~23% less per streamed call.
    """
    import uvicorn

    app = create_app(upstream, settings.raw_store_url, settings.collect, router)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host or settings.collect.proxy_host,
            port=port or settings.collect.proxy_port,
            log_level="warning",
            access_log=False,
        )
    )
    if seconds is not None:
        timer = threading.Timer(seconds, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    # after a graceful stop on Ctrl-C uvicorn raises it again: the counts are still wanted
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return dict(app.state.recorder.stats)
