"""`slimline nightly` (the whole loop once, as a Prefect flow run) and `slimline report`."""

from __future__ import annotations

import typer

from slimline.cli.common import emit, state


def nightly(
    ctx: typer.Context,
    source: list[str] | None = typer.Option(
        None, "--source", help="file, folder or glob of call logs (default: collect.sources)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the night's figures as JSON"),
) -> None:
    """Run the nightly flow once: collect, scrub, cluster, train, evaluate, promote, report."""
    st = state(ctx)
    settings = st.settings()  # Prefect's and MLflow's settings before either is imported
    from slimline.flows.nightly import nightly as nightly_flow

    result = nightly_flow(
        sources=source,
        home=str(settings.home),
        config=str(st.config) if st.config else None,
        profile=st.profile,
    )
    if as_json:
        emit(result.model_dump(mode="json"), True)
        return
    for stage, figures in result.stages.items():
        text = ", ".join(f"{k} {v}" for k, v in figures.items()) or "nothing to do"
        typer.echo(f"{stage:>9}: {text}")
    if result.nothing_new:
        typer.echo("Nothing new tonight: no new calls, no cluster to retrain.")
    typer.echo(f"\n{result.headline}\n({result.seconds:.0f} s; MLflow run {result.mlflow_run_id})")


def report(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """What promoted SLMs serve now: share of calls, quality vs the teacher, cost saved."""
    from slimline.tasks.report.per_task import tasks_markdown
    from slimline.tasks.report.stage import run_report
    from slimline.tasks.report.summary import summary_markdown

    st = state(ctx)
    result = run_report(st.settings(), work=st.work(), track=False)
    if as_json:
        emit({**result.summary, "headline": result.headline}, True)
    else:
        typer.echo(summary_markdown(result.summary))
        tasks = tasks_markdown(result.summary["clusters"])
        if tasks:
            typer.echo(f"\n## Tasks inside each cluster\n\n{tasks}")


def register(app: typer.Typer) -> None:
    app.command("nightly")(nightly)
    app.command("report")(report)
