"""Collect's commands: `collect` (files), `proxy` (live calls and spans), `quarantine`."""

from __future__ import annotations

import typer

from slimline.cli.common import emit, fail, state


def collect(
    ctx: typer.Context,
    sources: list[str] | None = typer.Option(
        None,
        "--source",
        "-s",
        help="a file, directory or glob (.jsonl, .jsonl.gz, .json); repeat for more. "
        "Default: collect.sources from the config",
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Read new calls from files into the raw store (only what is new since the last run)."""
    from slimline.store import StoreUnavailable
    from slimline.tasks.collect.stage import run_collect

    settings = state(ctx).settings()
    wanted = list(sources or settings.collect.sources)
    if not wanted:
        fail("no sources: pass --source PATH or set collect.sources in the config")
    from sqlalchemy.exc import SQLAlchemyError

    try:
        result = run_collect(settings, wanted)
    except StoreUnavailable as exc:
        fail(str(exc))
        return
    except SQLAlchemyError as exc:  # what was written stays; the next run goes on from there
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"the raw store failed during the collect ({reason}); run it again to go on")
        return
    data = result.model_dump()
    lines = []
    for s in result.sources:
        line = (
            f"{s.source}: {s.new} new, {s.duplicates} already stored, {s.quarantined} quarantined"
        )
        if s.skipped:
            line += f", {s.skipped} non-LLM spans skipped"
        if s.unchanged:
            line += f" ({s.unchanged} of {s.files} files unchanged)"
        if s.pending:
            line += f"; {s.pending} unfinished last line(s) left for the next run"
        if s.error:
            line += f"\n  error: {s.error}"
        lines.append(line)
    lines.append(
        f"total: {result.new} new, {result.duplicates} already stored, "
        f"{result.quarantined} quarantined"
        + (" (see `slimline quarantine`)" if result.quarantined else "")
    )
    emit(data, as_json, "\n".join(lines))
    if result.errors:
        raise typer.Exit(1)


def proxy(
    ctx: typer.Context,
    upstream: str | None = typer.Option(
        None,
        "--upstream",
        help="the OpenAI-compatible base URL to forward to, e.g. http://127.0.0.1:8000/v1 "
        "(default: collect.proxy_upstream)",
    ),
    host: str | None = typer.Option(None, "--host", help="listen address (default 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", help="listen port (default 8787)"),
    seconds: float | None = typer.Option(
        None, "--seconds", help="stop after this many seconds (default: until Ctrl-C)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the final counts as JSON"),
) -> None:
    """Serve an OpenAI-compatible logging proxy (/v1/chat/completions) and an OTLP/HTTP
    endpoint (/v1/traces); every call and GenAI span is recorded in the raw store."""
    from slimline.tasks.collect.proxy import serve

    settings = state(ctx).settings()
    target = upstream or settings.collect.proxy_upstream
    if not target:
        fail("no upstream: pass --upstream URL or set collect.proxy_upstream in the config")
    if not target.startswith(("http://", "https://")):
        fail(f"--upstream must be an http(s) URL, got {target!r}")
    from slimline.store import RawStore, StoreUnavailable

    try:
        RawStore(settings.raw_store_url).close()
    except StoreUnavailable as exc:  # served all the same: calls queue until the store is back
        typer.secho(f"warning: {exc}; calls are queued until it answers", err=True)
    listen_host = host or settings.collect.proxy_host
    listen_port = port or settings.collect.proxy_port
    if not as_json:
        typer.echo(
            f"slimline proxy on http://{listen_host}:{listen_port}/v1 -> {target} "
            "(OTLP/HTTP at /v1/traces; Ctrl-C stops)"
        )
    stats = serve(settings, target, listen_host, listen_port, seconds)
    emit(stats or {}, as_json)


def quarantine(
    ctx: typer.Context,
    limit: int | None = typer.Option(None, "--limit", help="show at most this many"),
    text: bool = typer.Option(False, "--text", help="show the start of each raw text"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (with the raw text)"),
) -> None:
    """List what collect set aside: source, location, reason (and the raw text)."""
    raw = state(ctx).raw()
    items = raw.list_quarantined(limit)
    data = {
        "count": raw.count_quarantined(),
        "items": [
            {
                "seq": q.seq,
                "source": q.source,
                "location": q.location,
                "reason": q.reason,
                "raw_text": q.raw_text,
            }
            for q in items
        ],
    }
    if not items:
        emit(data, as_json, "nothing quarantined")
        return
    lines = []
    for q in items:
        lines.append(f"[{q.seq}] {q.source} {q.location}: {q.reason}")
        if text:
            lines.append("    " + q.raw_text[:200].replace("\n", "\\n"))
    if data["count"] > len(items):
        lines.append(f"... {data['count'] - len(items)} more (use --limit)")
    emit(data, as_json, "\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)
    app.command("proxy")(proxy)
    app.command("quarantine")(quarantine)
