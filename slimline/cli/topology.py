"""`slimline up`, `slimline down` and `slimline deploy`: the scaled-out setup on one machine.

`up` starts PostgreSQL, a Prefect server and worker, an MLflow server and a Ray head on
127.0.0.1 (slimline/topology/), `up --status` tells what runs, `down` stops it all. `deploy`
registers deployments/prefect.yaml with a Prefect server (slimline/deploy.py).
"""

from __future__ import annotations

from pathlib import Path

import typer

from slimline.cli.common import emit, fail, state


def up(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
    show_status: bool = typer.Option(False, "--status", help="only tell what runs"),
    postgres_port: int | None = typer.Option(None, help="PostgreSQL's port [55432]"),
    prefect_port: int | None = typer.Option(None, help="the Prefect server's port [4200]"),
    mlflow_port: int | None = typer.Option(None, help="the MLflow server's port [5000]"),
    ray_port: int | None = typer.Option(None, help="the Ray head's GCS port [6379]"),
    ray_dashboard_port: int | None = typer.Option(None, help="Ray's dashboard port [8265]"),
    ray_client_port: int | None = typer.Option(None, help="Ray's client port [10001]"),
    ray_cpus: int | None = typer.Option(None, help="CPUs the Ray head offers (default: all)"),
) -> None:
    """Start the scaled-out topology locally (no Docker), all on 127.0.0.1; idempotent.

    Ports default to those of the last `up`. Nothing uses the topology until you say so:
    `source $SLIMLINE_HOME/topology/env.sh` points slimline at it.
    """
    from slimline.topology import Topology

    topo = Topology(state(ctx).settings())
    if show_status:
        data = topo.status()
        emit(data, as_json, None if as_json else _status_text(data))
        raise typer.Exit(0 if data["running"] else 1)
    data = topo.up(
        ray_cpus=ray_cpus,
        postgres=postgres_port,
        prefect=prefect_port,
        mlflow=mlflow_port,
        ray=ray_port,
        ray_dashboard=ray_dashboard_port,
        ray_client=ray_client_port,
    )
    emit(data, as_json, None if as_json else _up_text(data))
    if not data["ok"]:
        raise typer.Exit(1)


def down(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
) -> None:
    """Stop every server `slimline up` started (worker first, PostgreSQL last)."""
    from slimline.topology import Topology

    data = Topology(state(ctx).settings()).down()
    human = "\n".join(f"{name:<15} {what}" for name, what in data["components"].items())
    emit(data, as_json, None if as_json else human)
    if not data["ok"]:
        raise typer.Exit(1)


def deploy(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
    prefect_file: Path | None = typer.Option(
        None, "--prefect-file", help="deployments file (default: deployments/prefect.yaml)"
    ),
    root: Path | None = typer.Option(
        None, "--root", help="folder the entrypoints are relative to (default: repository)"
    ),
    names: list[str] | None = typer.Option(None, "--name", help="only these deployments"),
) -> None:
    """Register the Prefect deployments (schedule from the config) with a Prefect server."""
    from slimline.deploy import PREFECT_FILE, DeployError
    from slimline.deploy import deploy as run_deploy

    try:
        result = run_deploy(
            state(ctx).settings(), prefect_file or PREFECT_FILE, root=root, names=names or None
        )
    except DeployError as exc:
        fail(str(exc))
        return
    data = {
        "api_url": result.api_url,
        "pools_created": result.pools_created,
        "deployed": result.deployed,
        "skipped": result.skipped,
    }
    lines = [f"registered with {result.api_url}:"]
    lines += [f"  {d}" for d in result.deployed] or ["  (nothing)"]
    lines += [f"skipped {name}: {why}" for name, why in result.skipped.items()]
    lines += [f"created work pool {p}" for p in result.pools_created]
    emit(data, as_json, "\n".join(lines))


def _up_text(data: dict) -> str:
    lines = [_component_line(n, c) for n, c in data["components"].items()]
    failed = [n for n, c in data["components"].items() if c["state"] in ("failed", "skipped")]
    if failed:
        lines.append(f"not running: {', '.join(failed)} (see the errors and logs above)")
    lines += [
        "",
        "Nothing uses the topology until you ask. To point slimline at it:",
        f"    source {data['env_file']}",
        "which sets:",
    ]
    from slimline.store.base import masked

    lines += [f"    {k}={masked(v)}" for k, v in data["env"].items()]
    lines += ["`slimline down` stops it all."]
    return "\n".join(lines)


def _status_text(data: dict) -> str:
    return "\n".join(_component_line(n, c) for n, c in data["components"].items())


def _component_line(name: str, c: dict) -> str:
    line = f"{name:<15} {c['state']:<8} {c.get('url', '')}"
    if c.get("pid"):
        line += f"  pid {c['pid']}"
    if c.get("error"):
        line += f"\n{'':<16}{c['error']}"
    elif c["state"] in ("failed",):
        line += f"\n{'':<16}log: {c.get('log')}"
    return line


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("deploy")(deploy)
