"""`slimline up` / `slimline down`: the scaled-out topology on one machine, for real.

The slow part starts PostgreSQL, a Prefect server and process worker, an MLflow server and a
Ray head on 127.0.0.1 (once for the module, always stopped at the end), registers
deployments/prefect.yaml's nightly and on-promotion deployments with `slimline deploy`, runs
the nightly deployment through the worker, checks its MLflow run on the MLflow server and
its write to the PostgreSQL work store, then emits the promotion event and checks that the
trigger ran the on-promotion deployment with the promoted model and version.

The flows under test are parameters (UNDER_TEST): small real stand-ins for now
(topology_flows.py) that do to the servers what the real flows do. To test the real ones,
give "nightly" entrypoint None (the deployment's own), the demo profile and a check of what
a night leaves behind, give "on-promotion" entrypoint None, and set EMIT_PROMOTION = False
(the nightly flow's promote stage then emits the event).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from slimline.topology.postgres import pg_bin
from slimline.topology.process import (
    StartError,
    free_port,
    group_alive,
    read_pid,
    spawn,
    stop_group,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
SLIMLINE = str(Path(sys.executable).with_name("slimline"))


@dataclass
class Scenario:
    """How the test runs one deployment of deployments/prefect.yaml."""

    entrypoint: str | None  # the flow run instead of the deployment's own (None: its own)
    parameters: dict[str, Any]  # of the run the test starts (unused for triggered runs)
    check: Callable[[dict], None]  # what the finished run must have left on the servers


def _probe_left(run_name: str, state: bool) -> Callable[[dict], None]:
    def check(data: dict) -> None:
        from slimline.store import WorkStore

        runs = _mlflow_runs(data)
        assert run_name in runs, sorted(runs)
        assert runs[run_name].data.metrics["answer"] == 42
        home = Path(data["home"])  # the artifact went through the server into its store
        assert list((home / "topology" / "mlflow" / "artifacts").rglob("probe.txt"))
        if state:  # the flow used the topology's PostgreSQL work store
            work = WorkStore(data["env"]["SLIMLINE_STORE__WORK_URL"])
            assert work.get_state("topology-probe") == {"last": run_name}

    return check


PROMOTED = {
    "slug": "refund-requests",
    "cluster_id": 4,
    "model": "slimline-refund-requests",
    "version": 7,
}
UNDER_TEST = {
    "nightly": Scenario(
        "tests/slimline/topology_flows.py:probe",
        {"tag": "nightly"},
        _probe_left("probe-nightly", True),
    ),
    "on-promotion": Scenario(
        "tests/slimline/topology_flows.py:promoted_probe",
        {},
        _probe_left(f"promoted-{PROMOTED['model']}-v{PROMOTED['version']}", False),
    ),
}
EMIT_PROMOTION = True  # False once the nightly flow under test promotes by itself


# --- the pieces, without servers --------------------------------------------------------
def test_a_server_that_dies_while_starting_is_reported_with_its_log(tmp_path):
    log = tmp_path / "logs" / "broken.log"
    proc = spawn(["sh", "-c", "echo 'cannot bind' >&2; exit 3"], log, dict(os.environ))
    with pytest.raises(StartError) as info:
        wait_until(lambda: False, "broken", log, timeout=20, pid=proc.pid, marker="sh")
    assert f"see its log: {log}" in str(info.value)
    assert "cannot bind" in log.read_text()


def test_stopping_a_server_stops_its_whole_process_group(tmp_path):
    proc = spawn(["sh", "-c", "sleep 60 & sleep 60"], tmp_path / "s.log", dict(os.environ))
    time.sleep(0.3)
    assert stop_group(proc.pid, timeout=5)
    proc.wait(timeout=5)
    assert not group_alive(proc.pid)  # the backgrounded child too


def test_a_pid_file_naming_someone_elses_process_is_ignored(tmp_path):
    pidfile = tmp_path / "x.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    assert read_pid(pidfile, "python") == os.getpid()
    assert read_pid(pidfile, "no-such-server") is None  # a recycled pid is never ours


def test_up_reports_a_busy_port_and_starts_nothing_that_needs_it(settings):
    from slimline.topology import Topology

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        data = Topology(settings).up(postgres=port)
    assert not data["ok"]
    assert data["components"]["postgres"]["state"] == "failed"
    assert f"port {port} is in use" in data["components"]["postgres"]["error"]
    assert {c["state"] for n, c in data["components"].items() if n != "postgres"} == {"skipped"}
    assert not list(settings.path("topology", "run").glob("*.pid"))


# --- the topology, for real --------------------------------------------------------------
def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLIMLINE_", "PREFECT_API", "MLFLOW_TRACKING", "RAY_"))
    }


def _cli(home: Path, *args: str, env: dict | None = None, timeout: float = 400):
    return subprocess.run(
        [SLIMLINE, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env or _clean_env(),
        cwd=REPO,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def topology():
    if pg_bin("initdb") is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    # not under pytest's tmp folder: as root, PostgreSQL runs as `postgres` and must get in
    home = Path(tempfile.mkdtemp(prefix="slimline-topo-"))
    home.chmod(0o755)
    ports = [
        "--postgres-port",
        "--prefect-port",
        "--mlflow-port",
        "--ray-port",
        "--ray-dashboard-port",
        "--ray-client-port",
    ]
    args = [a for opt in ports for a in (opt, str(free_port()))]
    try:
        up = _cli(home, "up", "--json", "--ray-cpus", "1", *args)
        data = json.loads(up.stdout) if up.stdout.strip() else {}
        assert up.returncode == 0, f"slimline up failed: {_failures(data)}\n{up.stderr[-2000:]}"
        yield home, data
    finally:  # whatever still runs (a failed test, or `up` half done) is stopped here
        from slimline.config import load_settings
        from slimline.topology import Topology

        Topology(load_settings(home=home)).down()
        shutil.rmtree(home, ignore_errors=True)


def _failures(data: dict) -> str:
    """The components that did not start, with the end of their logs."""
    out = []
    for name, c in data.get("components", {}).items():
        if c["state"] not in ("started", "running"):
            log = Path(c.get("log") or "/nonexistent")
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            out.append(f"{name}: {c['state']}: {c.get('error')}\n{tail}")
    return "\n".join(out)


def _client_env(data: dict) -> dict[str, str]:
    return {
        **_clean_env(),
        **data["env"],
        "PREFECT_API_URL": data["env"]["SLIMLINE_TRACKING__PREFECT_API_URL"],
    }


def _api(data: dict, method: str, path: str, **kwargs):
    import httpx

    url = data["env"]["SLIMLINE_TRACKING__PREFECT_API_URL"] + path
    resp = httpx.request(method, url, timeout=30, **kwargs)
    resp.raise_for_status()
    return resp.json()


def _wait_for_run(data: dict, run_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _api(data, "GET", f"/flow_runs/{run_id}")
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(2)
    raise AssertionError(f"flow run {run_id} did not finish in {timeout:.0f} s: {run['state']}")


def _deployment_id(data: dict, name: str) -> str:
    (dep,) = _api(
        data, "POST", "/deployments/filter", json={"deployments": {"name": {"any_": [name]}}}
    )
    return dep["id"]


def _mlflow_runs(data: dict) -> dict[str, object]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=data["env"]["SLIMLINE_TRACKING__MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("slimline")
    runs = client.search_runs([exp.experiment_id]) if exp else []
    return {r.info.run_name: r for r in runs}


@pytest.mark.slow
@pytest.mark.postgres
def test_up_starts_every_server_on_loopback_and_writes_the_client_config(topology):
    import psutil

    home, data = topology
    states = {name: c["state"] for name, c in data["components"].items()}
    assert states == dict.fromkeys(states, "started") and len(states) == 5, data
    endpoints = home / "topology" / "endpoints.json"
    assert oct(endpoints.stat().st_mode & 0o777) == "0o600"  # URLs carry the password
    env_sh = (home / "topology" / "env.sh").read_text()
    for key in (
        "SLIMLINE_STORE__RAW_URL",
        "SLIMLINE_STORE__WORK_URL",
        "SLIMLINE_TRACKING__MLFLOW_TRACKING_URI",
        "SLIMLINE_TRACKING__PREFECT_API_URL",
        "SLIMLINE_TRAIN__RAY_ADDRESS",
    ):
        assert f"export {key}=" in env_sh
    # PostgreSQL, Prefect and MLflow listen on 127.0.0.1 only (Ray cannot: see docs)
    for name in ("postgres", "prefect-server", "mlflow"):
        pid = data["components"][name]["pid"]
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        listening = [
            c.laddr
            for p in procs
            for c in p.net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening, name
        assert {addr.ip for addr in listening} == {"127.0.0.1"}, (name, listening)


@pytest.mark.slow
@pytest.mark.postgres
def test_up_again_starts_no_second_copy(topology):
    home, data = topology
    again = _cli(home, "up", "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    for name, c in second["components"].items():
        assert c["state"] == "running", (name, c)
        assert c["pid"] == data["components"][name]["pid"], name
    status = _cli(home, "up", "--status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["running"]


@pytest.mark.slow
@pytest.mark.postgres
def test_the_ray_head_takes_a_driver_with_the_topology_token(topology):
    _, data = topology
    code = (
        "import os, ray; ray.init(address=os.environ['SLIMLINE_TRAIN__RAY_ADDRESS'], "
        "logging_level='ERROR'); print(ray.get(ray.remote(lambda: 6 * 7).remote()))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_client_env(data),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "42"


@pytest.fixture(scope="module")
def deployed(topology, tmp_path_factory):
    """deployments/prefect.yaml's deployments under test, registered with `slimline deploy`."""
    home, data = topology
    spec = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
    keep = []
    for dep in spec["deployments"]:
        if dep["name"] in UNDER_TEST:
            dep["entrypoint"] = UNDER_TEST[dep["name"]].entrypoint or dep["entrypoint"]
            keep.append(dep)
    path = tmp_path_factory.mktemp("deploy") / "prefect.yaml"
    path.write_text(yaml.safe_dump({**spec, "deployments": keep}, sort_keys=False))
    env = {
        **_client_env(data),
        "SLIMLINE_SCHEDULE__CRON": "15 4 * * *",
        "SLIMLINE_SCHEDULE__TIMEZONE": "Europe/Berlin",
    }
    result = _cli(
        home, "deploy", "--json", "--prefect-file", str(path), "--root", str(REPO), env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.postgres
def test_nightly_deployment_runs_through_the_worker_into_mlflow_and_postgres(topology, deployed):
    _, data = topology
    assert not deployed["skipped"] and len(deployed["deployed"]) == len(UNDER_TEST)
    dep_id = _deployment_id(data, "nightly")
    (schedule,) = _api(data, "GET", f"/deployments/{dep_id}")["schedules"]
    assert schedule["schedule"] == {
        **schedule["schedule"],
        "cron": "15 4 * * *",
        "timezone": "Europe/Berlin",
    }

    scenario = UNDER_TEST["nightly"]
    run = _api(
        data,
        "POST",
        f"/deployments/{dep_id}/create_flow_run",
        json={"parameters": scenario.parameters},
    )
    finished = _wait_for_run(data, run["id"])
    assert finished["state_type"] == "COMPLETED", finished["state"]
    assert finished["work_pool_name"] == "slimline-process"
    scenario.check(data)


@pytest.mark.slow
@pytest.mark.postgres
def test_promotion_event_triggers_the_on_promotion_deployment(topology, deployed):
    _, data = topology
    dep_id = _deployment_id(data, "on-promotion")
    if EMIT_PROMOTION:
        code = (
            "from slimline.tasks.promote.events import emit_promoted; "
            "import sys, json; a = json.loads(sys.argv[1]); "
            "assert emit_promoted(a['slug'], a['cluster_id'], a['model'], a['version'])"
        )
        emitted = subprocess.run(
            [sys.executable, "-c", code, json.dumps(PROMOTED)],
            capture_output=True,
            text=True,
            env=_client_env(data),
            timeout=120,
        )
        assert emitted.returncode == 0, emitted.stderr[-2000:]
    deadline = time.monotonic() + 180
    runs: list[dict] = []
    while time.monotonic() < deadline and not runs:
        runs = _api(
            data,
            "POST",
            "/flow_runs/filter",
            json={"flow_runs": {"deployment_id": {"any_": [dep_id]}}},
        )
        time.sleep(2)
    assert runs, "the promotion event did not start the on-promotion deployment"
    finished = _wait_for_run(data, runs[0]["id"])
    assert finished["state_type"] == "COMPLETED", finished["state"]
    if EMIT_PROMOTION:
        assert finished["parameters"] == {
            "model_name": PROMOTED["model"],
            "version": PROMOTED["version"],
        }
    else:
        assert set(finished["parameters"]) == {"model_name", "version"}
    UNDER_TEST["on-promotion"].check(data)


@pytest.mark.slow
@pytest.mark.postgres
def test_down_stops_every_server(topology):
    home, data = topology
    down = _cli(home, "down", "--json", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert set(json.loads(down.stdout)["components"].values()) == {"stopped"}
    for c in data["components"].values():
        assert not group_alive(c["pid"])  # every server leads its own process group
    assert not Path(data["components"]["ray"]["temp_dir"]).exists()
    again = _cli(home, "down", "--json")
    assert set(json.loads(again.stdout)["components"].values()) == {"not running"}
    status = _cli(home, "up", "--status", "--json")
    assert status.returncode == 1
