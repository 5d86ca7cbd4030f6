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
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import threading
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from slimline.tasks.collect.formats import RecordBuilder
from slimline.tasks.collect.otlp import records_from_otlp
from slimline.tasks.collect.recorder import Call, Quarantine, Recorder, Spans
from slimline.tasks.collect.stream import StreamAssembler

if TYPE_CHECKING:
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


def _request_headers(request: Request) -> dict[str, str]:
    return {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in _NOT_FORWARDED and not k.lower().startswith("x-slimline-")
    }


def _response_headers(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _NOT_RETURNED}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _upstream_error(exc: Exception) -> JSONResponse:
    message = f"slimline proxy: the upstream could not be reached ({type(exc).__name__})"
    return JSONResponse({"error": {"message": message, "type": "upstream_error"}}, 502)


def create_app(upstream: str, store_url: str, config: CollectConfig) -> FastAPI:
    """The proxy app; the recorder thread and the upstream client live as long as the app."""
    base = upstream.rstrip("/")
    recorder = Recorder(store_url, maxsize=config.proxy_queue_size)
    span_builder = RecordBuilder(cache=False, default_agent=config.default_agent)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        timeout = httpx.Timeout(config.proxy_timeout_s, connect=10.0)
        app.state.client = httpx.AsyncClient(timeout=timeout)
        recorder.start()
        try:
            yield
        finally:
            await app.state.client.aclose()
            await asyncio.to_thread(recorder.stop, config.proxy_drain_s)

    app = FastAPI(title="slimline proxy", lifespan=lifespan)
    app.state.recorder = recorder

    def set_aside(reason: str, raw: bytes | str) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
        location = f"call at {_now()}"
        recorder.submit(Quarantine("proxy", location, reason, text[: config.quarantine_text_bytes]))

    def record(request: Request, payload: Any, answer: Any, started: float, **meta: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(answer, dict):
            set_aside("the request or the answer is not a JSON object", json.dumps(answer))
            return
        metadata = (
            dict(payload.get("metadata") or {}) if isinstance(payload.get("metadata"), dict) else {}
        )
        metadata.update(meta)
        recorder.submit(
            Call(
                request=payload,
                response=answer,
                timestamp=_now(),
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                agent=request.headers.get("x-slimline-agent") or metadata.get("agent"),
                conversation_id=request.headers.get("x-slimline-conversation"),
                metadata=metadata,
            )
        )

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await request.body()
        started = time.perf_counter()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None  # forwarded all the same: the upstream says what is wrong
        client: httpx.AsyncClient = request.app.state.client
        outgoing = client.build_request(
            "POST",
            f"{base}/chat/completions",
            content=body,
            headers=_request_headers(request),
            params=request.query_params,
        )
        try:
            upstream_response = await client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            return _upstream_error(exc)
        headers = _response_headers(upstream_response.headers)
        is_stream = "text/event-stream" in upstream_response.headers.get("content-type", "")
        too_big = len(body) > config.max_line_bytes
        if not is_stream:
            content = await upstream_response.aread()
            await upstream_response.aclose()
            if upstream_response.status_code == 200:
                try:
                    answer = json.loads(content)
                except ValueError:
                    set_aside("the upstream answered 200 with a body that is not JSON", content)
                else:
                    if too_big:
                        set_aside(f"request body over {config.max_line_bytes:,} bytes", body)
                    else:
                        record(request, payload, answer, started, streamed=False)
            return Response(content, upstream_response.status_code, headers=headers)

        assembler = StreamAssembler()

        async def relay():
            finished = False
            try:
                async for chunk in upstream_response.aiter_bytes():
                    assembler.feed(chunk)
                    yield chunk
                finished = True
            finally:
                await upstream_response.aclose()
                assembler.close()
                if not finished or upstream_response.status_code != 200:
                    pass  # the caller went away, or an error: no call to record
                elif too_big:
                    set_aside(f"request body over {config.max_line_bytes:,} bytes", body)
                elif assembler.choices:
                    record(request, payload, assembler.response_body(), started, streamed=True)
                else:
                    set_aside("a stream without any chat completion chunk", b"")

        return StreamingResponse(relay(), upstream_response.status_code, headers=headers)

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
        client: httpx.AsyncClient = request.app.state.client
        try:
            answer = await client.request(
                request.method,
                f"{base}/{path}",
                content=await request.body(),
                headers=_request_headers(request),
                params=request.query_params,
            )
        except httpx.HTTPError as exc:
            return _upstream_error(exc)
        return Response(
            answer.content, answer.status_code, headers=_response_headers(answer.headers)
        )

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
) -> dict[str, int]:
    """Run the proxy until Ctrl-C (or for `seconds`); returns the recorder's final counts."""
    import uvicorn

    app = create_app(upstream, settings.raw_store_url, settings.collect)
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
    server.run()
    return dict(app.state.recorder.stats)
