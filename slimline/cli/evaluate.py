"""`slimline evaluate`: held-out metrics of each cluster's newest adapter (base vs challenger
vs champion), logged to MLflow and kept for `slimline promote`."""

from __future__ import annotations

import typer

from slimline.cli.common import emit, fail, state


def evaluate(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
) -> None:
    """Evaluate every cluster's newest trained adapter on its held-out conversations."""
    from slimline.tasks.evaluate.stage import evaluate_clusters, latest_train_entries, save_reports

    st = state(ctx)
    settings = st.settings()
    _, work = st.stores()
    entries = latest_train_entries(settings)
    if not entries:
        fail("no trained adapters in MLflow: run `slimline train` first")
    reports = evaluate_clusters(settings, entries, work)
    save_reports(work, reports)
    data = {
        "evaluated": sum(r.evaluated for r in reports),
        "skipped": sum(not r.evaluated for r in reports),
        "clusters": [r.to_dict() for r in reports],
    }
    emit(data, as_json, human="\n".join(r.summary_line() for r in reports))


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
