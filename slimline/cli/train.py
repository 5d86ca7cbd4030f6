"""`slimline train`: fine-tune an adapter per cluster (LoRA/DoRA on Ray), logged to MLflow."""

from __future__ import annotations

import typer

from slimline.cli.common import emit, fail, state


def train(
    ctx: typer.Context,
    cluster: list[int] | None = typer.Option(
        None, "--cluster", help="train only this cluster id (repeatable); default: every one"
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
) -> None:
    """Select a base model, build the dataset and train one adapter per cluster."""
    from slimline.tasks.train.stage import run_train
    from slimline.tasks.train.tasks import summary_markdown

    st = state(ctx)
    settings = st.settings()
    work = st.work()
    if not work.count_clusters():
        fail("no clusters in the work store: run `slimline cluster` first")
    result = run_train(settings, cluster or None, work=work)
    emit(result.model_dump(mode="json"), as_json, human=summary_markdown(result))
    if result.counts()["failed"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
