"""`slimline scrub` and `slimline export scrubbed`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from slimline.cli.common import emit, fail, state

export_app = typer.Typer(help="Write derived data out.", no_args_is_help=True)


def scrub(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
    flow: bool = typer.Option(
        False, "--flow", help="run as the Prefect flow `scrub` (adds a table artifact)"
    ),
) -> None:
    """Replace PII and secrets in the calls collected since the last scrub."""
    st = state(ctx)
    settings = st.settings()
    from slimline.tasks.scrub.stage import ScrubError, run_scrub

    try:
        if flow:
            from slimline.flows.scrub import scrub as scrub_flow

            result = scrub_flow(
                home=str(settings.home),
                config=str(st.config) if st.config else None,
                profile=st.profile,
            )
        else:
            raw, work = st.raw(), st.work()
            try:
                result = run_scrub(settings, raw, work)
            finally:
                raw.close()
                work.close()
        summary = result.model_dump()
    except (ScrubError, ValueError) as exc:
        fail(str(exc))
        return
    emit(summary, as_json, human=_human(summary))


def _human(s: dict[str, Any]) -> str:
    lines = [
        f"scrubbed {s['scrubbed']} calls in {s['seconds']:.1f} s ({s['calls_per_s']} calls/s): "
        f"{s['analysed']} strings analysed, {s['from_cache']} from the cache"
    ]
    if s["entities"]:
        found = sorted(s["entities"].items(), key=lambda kv: -kv[1])
        lines.append("replaced: " + ", ".join(f"{k} {v}" for k, v in found))
    for source, calls in s["sources"].items():
        lines.append(f"  {source}: {calls} calls, {s['source_entities'].get(source, 0)} hits")
    return "\n".join(lines)


@export_app.command("scrubbed")
def export_scrubbed(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="the JSONL file to write"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Write the scrubbed calls as JSONL: one CallRecord per line, with `cluster_id` once
    clustered."""
    from slimline.tasks.scrub.export import export_scrubbed as write

    work = state(ctx).work()
    try:
        data = write(work, out)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
        return
    finally:
        work.close()
    emit(data, as_json, human=f"wrote {data['calls']} scrubbed calls to {data['out']}")


def register(app: typer.Typer) -> None:
    app.command("scrub")(scrub)
    app.add_typer(export_app, name="export")
