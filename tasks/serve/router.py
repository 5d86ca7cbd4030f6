"""The router (`slimline serve`): each chat call answered by its cluster's champion when it
may be, otherwise forwarded to the LLM by the logging proxy's relay (tasks/collect/proxy.py).

Per request (`Router.decide`, also what `slimline replay` runs):
1. a request the small model cannot honour (several choices, `tool_choice` "none", a
   response format) goes upstream;
2. the request's raw context (system prompt and tools) must be one a champion learnt: its
   keyed hash is among the champion's `raw_keys` (scrub may have rewritten words inside the
   context the adapter saw, so the scrubbed text would not match), or its rendered text is
   the champion's. This cheap check comes first: most calls of clusters without a champion
   go upstream without being embedded;
3. its cluster, from the request alone (assign.py, the cluster stage's rule for new calls),
   must be that champion's;
4. the champion answers (local.py) from the prompt evaluation builds (slimline/prompt.py:
   the context left out, even where scrub rewrote it, since its raw key matched; history
   trimmed to `train.max_seq_len`), decoded as evaluation decodes
   (greedy, tool calls under the grammar of the request's tools, the champion's confidence
   signal), within `serve.slm_timeout_s`;
5. the answer is served when it may be (slimline/cascade.py `servable`: tool calls that
   parse and are valid against the request's tools, or text when a text target is set) and
   its confidence reaches the champion's calibrated threshold.
Anything else (and any error) falls back upstream, with the reason recorded. Every decision
goes to the work store (decisions.py); the header `x-slimline-served-by` says who answered.

The champions come from the registry at start (`refresh`); `POST /slimline/champions/reload`
(callers in `serve.reload_allow`, loopback by default; deploy-adapter calls it after a
promotion or a rollback) loads the registry's champions now: the new adapter is loaded
beside the old one, the table swapped in one assignment, and the old adapter unloaded once
no queued request asks for it, so no request is dropped. A champion that fails to load is
disabled, with its reason logged and shown at `GET /slimline/router`; its cluster goes
upstream. So is one whose live agreement with the LLM, measured by shadow checks
(shadow.py), falls below the target.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse

from slimline.cascade import servable, uncopied
from slimline.chat_format import ParsedResponse, parse_response, to_plain_messages
from slimline.config import Settings
from slimline.decoding import Answer
from slimline.prompt import DEFAULT_RESERVE, fit_prompt
from slimline.tasks.serve.champions import Champion, read_champions
from slimline.tasks.serve.decisions import SERVED, DecisionLog
from slimline.tasks.serve.local import Job
from slimline.tasks.serve.openai import (
    BadRequest,
    ChatRequest,
    completion,
    error_body,
    parse_request,
    stream_events,
)
from slimline.tasks.serve.shadow import Tally, emit_disabled, upstream_calls
from slimline.tasks.serve.traces import Steps

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

log = logging.getLogger("slimline.serve")

SERVED_BY = "x-slimline-served-by"
UPSTREAM = "upstream"


@dataclass
class Decision:
    """What the router decided for one request, and what the small model said."""

    served: bool
    reason: str  # "served", or why the call went upstream
    cluster_id: int | None = None
    champion: Champion | None = None
    confidence: float | None = None
    answer: Answer | None = None
    parsed: ParsedResponse | None = None
    slm_ms: float | None = None
    prompt_tokens: int = 0

    @property
    def served_by(self) -> str:
        return f"slm:{self.champion.name}" if self.served and self.champion else UPSTREAM

    def row(self, status: int | None, latency_ms: float, stream: bool) -> dict[str, Any]:
        """The decision as the work store keeps it: no message content."""
        c = self.champion
        return {
            "cluster_id": self.cluster_id,
            "model": c.model if c else None,
            "version": c.version if c else None,
            "confidence": self.confidence,
            "threshold": c.threshold if c else None,
            "served": self.served,
            "reason": self.reason,
            "status": status,
            "stream": stream,
            "latency_ms": round(latency_ms, 3),
            "slm_ms": round(self.slm_ms, 3) if self.slm_ms is not None else None,
            "completion_tokens": len(self.answer.token_ids) if self.answer else None,
        }


class Router:
    """Routing state (champions, the cluster assigner, the backend) and the ASGI handler."""

    def __init__(
        self,
        settings: Settings,
        backend: Any,
        assigner: Any,
        secret: str,
        decisions: DecisionLog | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.assigner = assigner
        self.secret = secret
        self.decisions = decisions
        self.champions: dict[int, Champion] = {}
        self.disabled: dict[int, str] = {}  # cluster id -> why its champion does not serve
        self.disabled_champions: dict[int, Champion] = {}
        self.broken: dict[str, str] = {}  # model -> why its registered champion cannot serve
        self.pool = ThreadPoolExecutor(settings.serve.workers, thread_name_prefix="slimline-route")
        self.shadows: dict[str, Tally] = {}  # champion name -> live agreement
        self.app: Any = None
        self._background: set[asyncio.Future] = set()
        self._refresh_lock = threading.Lock()
        cfg = settings.serve
        self.max_new_tokens = cfg.max_new_tokens or settings.evaluate.max_new_tokens

    # --- champions -----------------------------------------------------------------------
    def refresh(self) -> dict[str, Any]:
        """Serve the registry's champions now (see the module); returns `serving()`."""
        with self._refresh_lock:
            found, broken = read_champions(self.settings)
            table: dict[int, Champion] = {}
            disabled: dict[int, str] = {}
            blocked: dict[int, Champion] = {}
            for cid, champion in sorted(found.items()):
                current = self.champions.get(cid)
                if current is not None and current.name == champion.name:
                    table[cid] = current
                    continue
                try:
                    self.backend.load(champion)
                except Exception as exc:
                    reason = f"{champion.name} failed to load: {type(exc).__name__}: {exc}"
                    disabled[cid], blocked[cid] = reason.splitlines()[0], champion
                    log.error("cluster %s is served upstream: %s", cid, disabled[cid])
                    continue
                table[cid] = champion
                log.info("cluster %s now served by %s", cid, champion.name)
            old, self.champions = self.champions, table  # one assignment: the swap
            self.disabled, self.disabled_champions, self.broken = disabled, blocked, broken
            for cid, champion in old.items():
                if table.get(cid) is not champion:
                    self.backend.unload(champion)
            return self.serving()

    def serving(self) -> dict[str, Any]:
        return {
            "champions": {str(c): ch.name for c, ch in sorted(self.champions.items())},
            "disabled": {str(c): why for c, why in sorted(self.disabled.items())},
            "broken": dict(sorted(self.broken.items())),
            "shadow": {
                name: {"calls": t.calls, "agreement": t.agreement}
                for name, t in sorted(self.shadows.items())
            },
        }

    # --- the decision ----------------------------------------------------------------------
    def decide(
        self, request: ChatRequest, assign_all: bool = False, steps: Steps | None = None
    ) -> Decision:
        """Who answers `request` (see the module); the small model's answer when it does.
        `assign_all` finds the cluster of every request (replay's per-cluster figures);
        `steps` records when each step ran (for the call's trace)."""
        try:
            return self._decide(request, assign_all, steps or Steps())
        except Exception as exc:  # a bug must not cost the caller an answer
            log.exception("routing failed; the call goes upstream")
            return Decision(False, f"router_error: {type(exc).__name__}"[:64])

    def quick(self, request: ChatRequest) -> Decision | None:
        """The decisions that need neither the cluster model nor a small model, cheap enough
        for the event loop (most calls, when few clusters have a champion); None: decide."""
        if request.unsupported:
            return Decision(False, "unsupported_request")
        candidates = [*self.champions.values(), *self.disabled_champions.values()]
        if not candidates:
            return Decision(False, "no_champion")
        system, tools = request.context()
        if not any(c.matches_context(system, tools, self.secret) for c in candidates):
            return Decision(False, "context_mismatch")
        return None

    def _decide(self, request: ChatRequest, assign_all: bool, steps: Steps) -> Decision:
        if request.unsupported:
            return Decision(False, "unsupported_request")
        champions = self.champions  # this request's view, whatever a swap does meanwhile
        disabled = self.disabled_champions
        if not champions and not disabled and not assign_all:
            return Decision(False, "no_champion")
        try:
            record = request.record
        except BadRequest:  # messages the protocol allows but a CallRecord does not
            return Decision(False, "unsupported_request")
        matching = [c for c in champions.values() if c.matches(record, self.secret)]
        blocked = [c for c in disabled.values() if c.matches(record, self.secret)]
        cid = None
        if matching or blocked or assign_all:
            started = time.perf_counter()
            cid, _ = self.assigner.assign(record, self._allowed([*matching, *blocked]))
            steps.add("cluster assignment", started, {"slimline.cluster_id": cid})
        if not champions and not disabled:
            return Decision(False, "no_champion", cid)
        if not matching and not blocked:
            return Decision(False, "context_mismatch", cid)
        if cid is None:
            return Decision(False, "unknown_cluster")
        champion = champions.get(cid)
        if champion is None:
            if cid in disabled:
                return Decision(False, "champion_disabled", cid, disabled[cid])
            return Decision(False, "no_champion", cid)
        if champion not in matching:
            return Decision(False, "context_mismatch", cid, champion)
        decision = Decision(False, "", cid, champion)
        tokenizer = self.backend.tokenizer(champion)
        try:  # the context matched (by its raw key): left out, as the adapter learnt it
            plain = to_plain_messages(record.messages, record.tools, system_override="")
            prompt = fit_prompt(plain, record, tokenizer, self.settings.train.max_seq_len,
                                DEFAULT_RESERVE)  # fmt: skip
        except ValueError:
            decision.reason = "prompt_too_long"
            return decision
        limit = min(self.max_new_tokens, request.max_tokens or self.max_new_tokens)
        job = Job(
            adapter=champion.adapter,
            prompt=prompt,
            tools=request.grammar_tools if self.settings.evaluate.constrain_tool_calls else None,
            rule=request.rule,
            max_new_tokens=limit,
            signal=champion.signal,
        )
        started = time.perf_counter()
        try:
            answer, _ = self.backend.answer(champion, job, self.settings.serve.slm_timeout_s)
        except TimeoutError:
            decision.reason = "slm_timeout"
            return decision
        except Exception as exc:
            log.warning("%s failed to answer: %s: %s", champion.name, type(exc).__name__, exc)
            decision.reason = "slm_error"
            return decision
        finally:
            decision.slm_ms = (time.perf_counter() - started) * 1000
            generated = {"slimline.model": champion.name}
            steps.add("slm generation", started, generated)
        decision.answer, decision.confidence = answer, answer.confidence
        generated["slimline.confidence"] = answer.confidence
        generated["slimline.completion_tokens"] = len(answer.token_ids)
        started = time.perf_counter()
        decision.prompt_tokens = _prompt_tokens(tokenizer, prompt)
        parsed = decision.parsed = parse_response(answer.text)
        if not servable(parsed, record.tools, self.settings.promote.text_target, record) or (
            request.rule.required and not parsed.tool_calls
        ):
            if parsed.is_tool_call and uncopied(parsed, record):
                decision.reason = "uncopied_identifier"  # written from memory: never served
            else:
                decision.reason = "invalid_tool_call" if parsed.is_tool_call else "text_not_served"
        elif answer.confidence < champion.threshold:
            decision.reason = "low_confidence"
        else:
            decision.served, decision.reason = True, SERVED
        verdict = {"slimline.threshold": champion.threshold, "slimline.verdict": decision.reason}
        steps.add("validation", started, verdict)
        return decision

    def _allowed(self, champions: list[Champion]) -> set[int] | None:
        """The clusters a request whose context these champions learnt may belong to: those
        of their agent identities (None: identities unknown, every cluster)."""
        if not champions:
            return None
        allowed: set[int] = set()
        for champion in champions:
            same = self.assigner.same_identity(champion.cluster_id)
            if same is None:
                return None
            allowed |= same
        return allowed

    # --- the ASGI side (the proxy calls these) ----------------------------------------------
    async def start(self, app: Any) -> None:
        self.app = app
        if self.decisions is not None:
            self.decisions.start()
        await asyncio.get_running_loop().run_in_executor(self.pool, self.refresh)
        # torch, transformers and MLflow leave millions of long-lived objects: out of the
        # garbage collector's sight, its full passes no longer stall the event loop
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        if self.decisions is not None:
            await asyncio.to_thread(self.decisions.stop)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def install(self, app: Any) -> None:
        @app.post("/slimline/champions/reload")
        async def reload(request: Request) -> JSONResponse:
            host = request.client.host if request.client else ""
            cfg = self.settings.serve
            token = cfg.reload_token()
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not (
                (token and hmac.compare_digest(given.encode(), token.encode()))
                or await _may_reload(host, cfg.reload_allow)
            ):
                why = f"{host or 'this client'} is not in serve.reload_allow"
                why += " and did not give the reload token" if token else ""
                return JSONResponse(error_body(why, "forbidden"), 403)
            loop = asyncio.get_running_loop()
            return JSONResponse(await loop.run_in_executor(self.pool, self.refresh))

        @app.get("/slimline/router")
        async def router_state() -> dict[str, Any]:
            state = self.serving()
            if self.decisions is not None:
                state["decisions"] = {
                    "written": self.decisions.written,
                    "dropped": self.decisions.dropped,
                }
            return state

    async def handle(self, scope: Scope, receive: Receive, send: Send, body: bytes, relay: Any):
        """Answer one chat call: the small model, or `relay` (the proxy's) to the upstream."""
        steps = Steps()
        started = steps.started
        headers = dict(scope.get("headers") or [])
        agent = headers.get(b"x-slimline-agent", b"").decode("latin-1") or None
        try:
            request = parse_request(body, agent)
        except BadRequest as exc:  # recorded nowhere
            await _send(send, 400, json.dumps(error_body(str(exc))).encode(), {})
            return
        try:
            decision = self.quick(request)
        except Exception:  # a bug must not cost the caller an answer
            log.exception("routing failed; the call goes upstream")
            decision = Decision(False, "router_error")
        matched = decision.reason if decision is not None else "a champion's context"
        steps.add("context match", started, {"slimline.verdict": matched})
        if decision is None:  # a champion may answer: off the event loop
            loop = asyncio.get_running_loop()
            decision = await loop.run_in_executor(self.pool, self.decide, request, False, steps)
        answering = time.perf_counter()
        if decision.served:
            status = await self._answer(send, request, decision)
            steps.add("slm answer", answering, {"http.status_code": status})
            fraction = self.settings.serve.shadow_fraction
            if _sampled(fraction) and self.app is not None:
                task = asyncio.ensure_future(self._shadow(scope, request, decision))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        else:
            status = await relay(scope, receive, send, body, {SERVED_BY: UPSTREAM})
            why = {"slimline.reason": decision.reason, "http.status_code": status}
            steps.add("fallback to the LLM", answering, why)
        if self.decisions is not None:
            ended = time.perf_counter()
            row = decision.row(status, (ended - started) * 1000, request.stream)
            traced = decision.champion is not None or _sampled(self.settings.serve.traces_sample)
            self.decisions.add(row, (steps, ended) if traced else None)

    async def _shadow(self, scope: Scope, request: ChatRequest, decision: Decision) -> None:
        """Ask the LLM too, compare, and stop the champion when live agreement falls short."""
        champion, parsed = decision.champion, decision.parsed
        assert champion is not None and parsed is not None
        body = {k: v for k, v in request.body.items() if k not in ("stream", "stream_options")}
        try:
            # recorded in the raw store: the LLM's answer to a call it did not answer is
            # what the next night learns from
            status, content = await self.app.state.forward(json.dumps(body).encode(), scope, True)
        except Exception as exc:
            log.info("shadow call of %s failed: %s", champion.name, exc)
            return
        llm = upstream_calls(content) if status == 200 else None
        if llm is None or (not llm and not parsed.tool_calls):
            return  # not a chat completion, or text on both sides: not counted
        tally = self.shadows.setdefault(champion.name, Tally())
        tally.calls += 1
        tally.agreed += parsed.tool_calls == llm
        loop = asyncio.get_running_loop()
        loop.run_in_executor(self.pool, self._log_shadow, champion, tally.calls, tally.agreement)
        cfg = self.settings.serve
        target = cfg.shadow_target or self.settings.promote.target_agreement
        if tally.calls >= cfg.shadow_min_calls and (tally.agreement or 0.0) < target:
            self._disable(champion, f"shadow agreement {tally.agreement:.2f} on {tally.calls} "
                                    f"calls, below {target:.2f}")  # fmt: skip

    def _log_shadow(self, champion: Champion, calls: int, agreement: float | None) -> None:
        if not champion.run_id or agreement is None:
            return
        try:
            from slimline.tracking import client

            tracking = client(self.settings)
            tracking.log_metric(champion.run_id, "shadow.calls", calls, step=calls)
            tracking.log_metric(champion.run_id, "shadow.agreement", agreement, step=calls)
        except Exception as exc:  # MLflow away: the figures stay in memory
            log.warning("shadow figures of %s not logged: %s", champion.name, exc)

    def _disable(self, champion: Champion, reason: str) -> None:
        """Stop a serving champion (until the next reload); its cluster goes upstream."""
        with self._refresh_lock:
            cid = champion.cluster_id
            if self.champions.get(cid) is not champion:
                return
            self.disabled = {**self.disabled, cid: f"{champion.name}: {reason}"}
            self.disabled_champions = {**self.disabled_champions, cid: champion}
            self.champions = {k: v for k, v in self.champions.items() if k != cid}
        log.error("cluster %s is served upstream: %s", cid, self.disabled[cid])
        self.pool.submit(emit_disabled, champion, reason)

    async def _answer(self, send: Send, request: ChatRequest, decision: Decision) -> int:
        assert decision.parsed is not None and decision.answer is not None
        header = {SERVED_BY: decision.served_by}
        n_out = len(decision.answer.token_ids)
        if not request.stream:
            body = completion(request, decision.parsed, decision.prompt_tokens, n_out)
            await _send(send, 200, json.dumps(body, ensure_ascii=False).encode(), header)
            return 200
        raw = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        raw += [(k.encode(), v.encode()) for k, v in header.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        for event in stream_events(request, decision.parsed, decision.prompt_tokens, n_out):
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return 200


async def _may_reload(host: str, allow: list[str]) -> bool:
    """Whether the client at `host` is in `allow` (serve.reload_allow): addresses, networks
    (CIDR) or host names, these resolved now (e.g. the compose service whose flows run
    deploy-adapter). An IPv4-mapped IPv6 client counts as its IPv4 address."""
    try:
        client = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    client = getattr(client, "ipv4_mapped", None) or client
    loop = asyncio.get_running_loop()
    for entry in allow:
        try:
            networks = [ipaddress.ip_network(entry, strict=False)]
        except ValueError:  # a host name
            try:
                found = await loop.getaddrinfo(entry, None)
            except OSError:
                continue
            networks = [ipaddress.ip_network(a[4][0].split("%")[0]) for a in found]
        if any(client.version == n.version and client in n for n in networks):
            return True
    return False


def _sampled(fraction: float) -> bool:
    return fraction >= 1 or (fraction > 0 and random.random() < fraction)


def _prompt_tokens(tokenizer: Any, prompt: list[dict[str, str]]) -> int:
    from slimline.prompt import token_counter

    return token_counter(tokenizer).exact(prompt)


async def _send(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
