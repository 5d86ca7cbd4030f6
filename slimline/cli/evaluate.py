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
    from slimline.tasks.evaluate.stage import latest_training, run_evaluate

    st = state(ctx)
    settings = st.settings()
    training = latest_training(settings)
    if not training.clusters:
        fail("no trained adapters in MLflow: run `slimline train` first")
    result = run_evaluate(settings, training, work=st.work())
    data = {
        "evaluated": len(result.evaluated),
        "skipped": len(result.clusters) - len(result.evaluated),
        "clusters": [r.model_dump(mode="json") for r in result.clusters],
    }
    emit(data, as_json, human="\n".join(r.summary_line() for r in result.clusters))


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
