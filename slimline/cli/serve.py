"""Serve's commands: `serve` (the router: an OpenAI-compatible endpoint that answers with the
champions and falls back to the LLM) and `replay --source FILE` (logged calls through the
router's decisions, offline).

Both need the raw store's context-key secret (live requests are raw; champions recognise
their context by its keyed hash), read here at the entry point: the serve stage itself never
opens the raw store. The router records the calls it forwards in the raw store through the
logging proxy, as `slimline proxy` does.
"""

from __future__ import annotations

from pathlib import Path

import typer

from slimline.cli.common import emit, fail, state


def _secret(st) -> str:
    from slimline.prompt import CONTEXT_SECRET

    return st.raw().secret(CONTEXT_SECRET)


def serve(
    ctx: typer.Context,
    upstream: str | None = typer.Option(
        None,
        "--upstream",
        help="the LLM's OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 "
        "(default: serve.upstream, then collect.proxy_upstream)",
    ),
    host: str | None = typer.Option(None, "--host", help="listen address (default 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", help="listen port (default 8788)"),
    seconds: float | None = typer.Option(
        None, "--seconds", help="stop after this many seconds (default: until Ctrl-C)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the final counts as JSON"),
) -> None:
    """Serve the router on /v1/chat/completions: each call answered by its cluster's champion
    when it is sure, otherwise by the upstream LLM (recorded in the raw store)."""
    from slimline.tasks.collect.proxy import serve as serve_app
    from slimline.tasks.serve.stage import build_router

    st = state(ctx)
    settings = st.settings()
    target = upstream or settings.serve.upstream or settings.collect.proxy_upstream
    if not target:
        fail("no upstream: pass --upstream URL or set serve.upstream in the config")
    if not target.startswith(("http://", "https://")):
        fail(f"--upstream must be an http(s) URL, got {target!r}")
    router = build_router(settings, _secret(st), st.work())
    listen_host = host or settings.serve.host
    listen_port = port or settings.serve.port
    if not as_json:
        typer.echo(
            f"slimline router on http://{listen_host}:{listen_port}/v1 -> {target} "
            "(champions answer what they are sure of; Ctrl-C stops)"
        )
    try:
        stats = serve_app(settings, target, listen_host, listen_port, seconds, router=router)
    finally:
        router.backend.stop()
    emit({**(stats or {}), **router.serving()}, as_json)


def replay(
    ctx: typer.Context,
    source: Path = typer.Option(..., "--source", "-s", help="logged calls (.jsonl, .jsonl.gz)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="one line per call"),
) -> None:
    """Run logged calls through the router offline (the logged answer stands in for the
    LLM's): per cluster the share the champions would serve, their agreement with the logged
    answers, latency and the cost saved."""
    from slimline.tasks.serve.stage import run_replay

    st = state(ctx)
    settings = st.settings()
    if not source.is_file():
        fail(f"no such file: {source}")

    def progress(i: int, record, decision) -> None:
        if verbose and not as_json:
            who = decision.served_by
            why = "" if decision.served else f" ({decision.reason})"
            typer.echo(f"{i:5d} {record.id[:12]} cluster {decision.cluster_id}: {who}{why}")

    result = run_replay(settings, source, _secret(st), progress)
    lines = [
        f"{c['cluster']:>10} {c['model'] or '-':<32} {c['served']:>5}/{c['calls']:<5} "
        f"served {c['served_share']:6.1%}  agreement "
        + (f"{c['agreement']:.2f}" if c["agreement"] is not None else "  - ")
        + (f"  slm p50 {c['slm_ms_p50']:.0f} ms" if c["slm_ms_p50"] is not None else "")
        for c in result["clusters"]
    ]
    agreement = result["agreement"]
    lines.append(
        f"total: {result['served']} of {result['calls']} calls served "
        f"({result['served_share']:.1%}), agreement "
        + (f"{agreement:.2f}" if agreement is not None else "-")
        + f", cost saved ${result['cost_saved_usd']:.4f}"
    )
    emit(result, as_json, "\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("replay")(replay)
