"""`slimline promote` (the gate over the last evaluation, registry aliases, the promotion
event) and `slimline rollback CLUSTER` (champion back to the previous one)."""

from __future__ import annotations

import typer

from slimline.cli.common import emit, fail, state


def promote(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
) -> None:
    """Register each evaluated adapter; make it champion where the gate passes it."""
    from slimline.tasks.evaluate.stage import load_evaluation
    from slimline.tasks.promote.stage import run_promote
    from slimline.tasks.report.stage import run_report

    st = state(ctx)
    settings = st.settings()
    work = st.work()
    evaluation = load_evaluation(work)
    if not evaluation.clusters:
        fail("no evaluation to promote from: run `slimline evaluate` first")
    result = run_promote(settings, evaluation)
    summary = run_report(settings, work=work).summary
    data = {
        "promoted": len(result.promoted),
        "candidates": len(result.promotions),
        "clusters": [p.model_dump(mode="json") for p in result.promotions],
        "served": {k: v for k, v in summary.items() if k != "clusters"},
    }
    lines = [
        f"{p.model} v{p.version}: {'PROMOTED' if p.promoted else 'not promoted'}"
        f" (champion: {'v' + str(p.champion) if p.champion else 'none'})\n  "
        + "\n  ".join(p.reasons)
        for p in result.promotions
    ]
    lines.append(f"share of calls served by a champion: {summary['served_share_calls']:.1%}")
    emit(data, as_json, human="\n".join(lines))


def rollback(
    ctx: typer.Context,
    cluster: str = typer.Argument(..., help="the cluster's slug (its model's name) or id"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
) -> None:
    """Move a cluster's champion alias back to the previous champion."""
    from slimline.tasks.promote.registry import RegistryError
    from slimline.tasks.promote.stage import rollback_cluster

    settings = state(ctx).settings()
    try:
        data = rollback_cluster(settings, cluster)
    except RegistryError as exc:
        fail(str(exc))
        return
    emit(
        data,
        as_json,
        human=f"{data['model']}: champion v{data['from_version']} -> v{data['champion']}",
    )


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)
    app.command("rollback")(rollback)
