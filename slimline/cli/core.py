"""Commands that are not a stage: `config show`, `status`, `ui`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import typer
import yaml

from slimline.cli.common import emit, state

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of YAML"),
) -> None:
    """Print the effective config (file, environment and flags merged; passwords masked)."""
    data = state(ctx).settings().public_dump()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
) -> None:
    """Counts: raw and quarantined calls, scrubbed calls, clusters, models and champions,
    the share of calls the champions serve (held-out), and live: calls the router routed,
    the share a champion answered, fallbacks to the LLM by reason."""
    from slimline.tracking import registry_counts

    st = state(ctx)
    raw, work = st.raw(), st.work()
    registered, champions = registry_counts(st.settings())
    served_share = 0.0
    if champions:
        from slimline.tasks.report.summary import served_summary

        served_share = served_summary(st.settings(), work)["served_share_calls"]
    data = {
        "home": str(st.settings().path()),
        "raw_calls": raw.count_calls(),
        "quarantined": raw.count_quarantined(),
        "scrubbed_calls": work.count_scrubbed(),
        "clusters": work.count_clusters(),
        "registered_models": registered,
        "champions": champions,
        "served_share": round(served_share, 6),
    }
    live = work.routing_summary()  # the router's decisions (`slimline serve`), beside them
    data |= {k: live[k] for k in ("routed_calls", "live_served_share", "fallbacks")}
    emit(data, as_json)


def ui(
    ctx: typer.Context,
    mlflow_port: int = typer.Option(5000, help="port of the MLflow UI"),
    prefect_port: int = typer.Option(4200, help="port of the Prefect UI"),
    seconds: float | None = typer.Option(
        None, "--seconds", help="stop after this many seconds (default: until Ctrl-C)"
    ),
) -> None:
    """Serve the MLflow UI (on the MLflow store) and a Prefect server, both on 127.0.0.1;
    Ctrl-C or SIGTERM stops both."""
    from slimline.tracking import mlflow_experiment

    settings = state(ctx).settings()
    experiment_id = mlflow_experiment(settings)  # the store exists and has the experiment
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("PREFECT_API_URL", None)
    bin_dir = os.path.dirname(sys.executable)
    procs = [
        subprocess.Popen(
            [
                os.path.join(bin_dir, "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port),
                "--workers",
                "1",
                "--backend-store-uri",
                settings.mlflow_tracking_uri,
                "--artifacts-destination",
                str(settings.mlflow_artifacts),
            ],
            env=env,
            start_new_session=True,
        ),
        subprocess.Popen(
            [
                os.path.join(bin_dir, "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(prefect_port),
            ],
            env=env,
            start_new_session=True,
        ),
    ]
    # MLflow 3.17 chooses between its GenAI pages and its model-training pages by a view
    # kept in the browser (default GenAI), not by the experiment's kind tag: the link asks for
    # the training view, so the experiment opens on its runs with each night's runs nested.
    runs_page = f"#/experiments/{experiment_id}?workflowType=machine_learning"
    urls = {
        "MLflow": f"http://127.0.0.1:{mlflow_port}/{runs_page}",
        "Prefect": f"http://127.0.0.1:{prefect_port}",
    }
    health = {
        "MLflow": f"http://127.0.0.1:{mlflow_port}/health",
        "Prefect": f"{urls['Prefect']}/api/health",
    }

    def _terminated(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # a process manager's SIGTERM stops both servers, as Ctrl-C

    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        for name, url in health.items():
            _wait_healthy(name, url, procs)
            typer.echo(f"{name} UI: {urls[name]}")
        typer.echo("Ctrl-C stops both." if seconds is None else f"Stopping in {seconds:.0f} s.")
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise typer.Exit(1)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # no second interruption mid-cleanup
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        signal.signal(signal.SIGTERM, previous)


def _wait_healthy(name: str, url: str, procs: list[subprocess.Popen], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"the {name} server exited while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the {name} server did not become healthy at {url} in {timeout:.0f} s")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.command("status")(status)
    app.command("ui")(ui)
