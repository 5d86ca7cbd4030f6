"""`slimline up` / `slimline down`: the scaled-out topology on one machine, without Docker.

PostgreSQL (raw store, work store, Prefect's and MLflow's databases), a Prefect server and a
process worker, an MLflow server and a Ray head, all on 127.0.0.1, all under
$SLIMLINE_HOME/topology/:

    topology/endpoints.json   what runs where (0600: URLs carry the database password)
    topology/env.sh           `source` it to point slimline at the topology
    topology/logs/NAME.log    each server's output; topology/run/NAME.pid
    topology/postgres/        the cluster; topology/mlflow/artifacts/; topology/ray/

Starting is idempotent (what runs is left alone), stopping stops only what we started.
Nothing reads the topology implicitly: a user opts in by sourcing env.sh (or exporting the
variables `up` prints), which is what the worker does too.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slimline.config import Settings
from slimline.topology import services
from slimline.topology.postgres import Postgres
from slimline.topology.process import (
    StartError,
    port_free,
    read_pid,
    spawn,
    stop_group,
    wait_until,
)

ORDER = ("postgres", "prefect-server", "mlflow", "ray", "prefect-worker")


@dataclass
class Ports:
    """Where each server listens (all on 127.0.0.1); `up` remembers them in endpoints.json."""

    postgres: int = 55432
    prefect: int = 4200
    mlflow: int = 5000
    ray: int = 6379
    ray_dashboard: int = 8265
    ray_client: int = 10001


class Topology:
    """The local topology of one SLIMLINE_HOME."""

    def __init__(self, settings: Settings) -> None:
        self.home = settings.path()
        self.root = settings.path("topology")
        self.endpoints_file = self.root / "endpoints.json"
        self.env_file = self.root / "env.sh"

    # --- what is recorded ----------------------------------------------------------------
    def saved(self) -> dict[str, Any]:
        try:
            return json.loads(self.endpoints_file.read_text())
        except (OSError, ValueError):
            return {}

    def ports(self, **overrides: int | None) -> Ports:
        """Ports: the given ones, else those of the last `up`, else the defaults."""
        saved = self.saved().get("ports", {})
        values = {**asdict(Ports()), **saved}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Ports(**values)

    def _pidfile(self, name: str) -> Path:
        return self.root / "run" / f"{name}.pid"

    def _log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def _postgres(self, ports: Ports) -> Postgres:
        return Postgres(self.root / "postgres", ports.postgres)

    def client_env(self, ports: Ports) -> dict[str, str]:
        """The variables that point slimline (and Ray's client) at this topology."""
        pg = self._postgres(ports)
        return {
            "SLIMLINE_HOME": str(self.home),
            "SLIMLINE_STORE__RAW_URL": pg.url("slimline_raw"),
            "SLIMLINE_STORE__WORK_URL": pg.url("slimline_work"),
            "SLIMLINE_TRACKING__MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports.mlflow}",
            "SLIMLINE_TRACKING__PREFECT_API_URL": f"http://127.0.0.1:{ports.prefect}/api",
            "SLIMLINE_TRAIN__RAY_ADDRESS": f"127.0.0.1:{ports.ray}",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(services.ray_token(self.root)),
        }

    def _services(self, ports: Ports, ray_cpus: int | None) -> dict[str, services.Service]:
        pg = self._postgres(ports)
        api = f"http://127.0.0.1:{ports.prefect}/api"
        return {
            "prefect-server": services.prefect_server(
                self.root, ports.prefect, pg.url("prefect", driver="asyncpg")
            ),
            "mlflow": services.mlflow_server(self.root, ports.mlflow, pg.url("mlflow")),
            "ray": services.ray_head(
                self.root, ports.ray, ports.ray_dashboard, ports.ray_client, ray_cpus
            ),
            "prefect-worker": services.prefect_worker(self.root, api, self.client_env(ports)),
        }

    # --- up --------------------------------------------------------------------------------
    def up(self, ray_cpus: int | None = None, **port_overrides: int | None) -> dict[str, Any]:
        """Start what is not running; returns a report with each component's state."""
        for sub in ("run", "logs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # PostgreSQL (another user when we are root) passes through
        ports = self.ports(**port_overrides)
        running_pg = self._postgres(ports).running_port()
        if running_pg is not None:  # a running cluster keeps its port
            ports.postgres = running_pg
        report: dict[str, dict[str, Any]] = {}
        started = time.monotonic()

        pg = self._postgres(ports)
        report["postgres"] = self._up_postgres(pg, ports)
        if report["postgres"]["state"] == "failed":
            return self._finish(ports, report, started, skip_after_postgres=True)

        svcs = self._services(ports, ray_cpus)
        pending = {}
        for name in ("prefect-server", "mlflow", "ray"):
            report[name], proc = self._launch(svcs[name])
            if proc is not None:
                pending[name] = proc
        for name, launched in pending.items():
            report[name] = self._await(svcs[name], launched, report[name])

        if report["prefect-server"]["state"] in ("started", "running"):
            report["prefect-worker"], proc = self._launch(svcs["prefect-worker"])
            if proc is not None:
                report["prefect-worker"] = self._await(
                    svcs["prefect-worker"], proc, report["prefect-worker"]
                )
        else:
            report["prefect-worker"] = self._entry(svcs["prefect-worker"], "skipped")
            report["prefect-worker"]["error"] = "the Prefect server is not running"
        return self._finish(ports, report, started)

    def _up_postgres(self, pg: Postgres, ports: Ports) -> dict[str, Any]:
        entry = {
            "state": "running",
            "url": f"postgresql://127.0.0.1:{ports.postgres}",
            "pid": pg.pid(),
            "log": str(pg.log),
        }
        if entry["pid"] is not None:
            return entry
        if not port_free(ports.postgres):
            return {**entry, "state": "failed", "error": f"port {ports.postgres} is in use"}
        try:
            pg.start()
        except StartError as exc:
            return {**entry, "state": "failed", "error": str(exc)}
        return {**entry, "state": "started", "pid": pg.pid()}

    def _entry(self, svc: services.Service, state: str, pid: int | None = None) -> dict:
        return {
            "state": state,
            "url": svc.url,
            "pid": pid,
            "log": str(self._log(svc.name)),
            **svc.extra,
        }

    def _launch(self, svc: services.Service) -> tuple[dict[str, Any], tuple | None]:
        """Spawn `svc` unless it runs; returns its report entry and (pid, log offset, when)."""
        pid = read_pid(self._pidfile(svc.name), svc.marker)
        if pid is not None:
            return self._entry(svc, "running", pid), None
        busy = [p for p in svc.ports if not port_free(p)]
        if busy:
            entry = self._entry(svc, "failed")
            entry["error"] = f"port {busy[0]} is in use by another program; pick another port"
            return entry, None
        log = self._log(svc.name)
        offset = log.stat().st_size if log.exists() else 0
        proc = spawn(svc.cmd, log, svc.env)
        self._pidfile(svc.name).write_text(f"{proc.pid}\n")
        return self._entry(svc, "starting", proc.pid), (proc.pid, offset, time.monotonic())

    def _await(self, svc: services.Service, launched: tuple, entry: dict) -> dict:
        """Wait until `svc` is ready; a server that is not gets stopped and reported."""
        pid, offset, spawned = launched
        log = self._log(svc.name)
        timeout = max(5.0, svc.timeout - (time.monotonic() - spawned))
        try:
            wait_until(lambda: svc.ready(log, offset), svc.name, log, timeout, pid, svc.marker)
        except StartError as exc:
            stop_group(pid, timeout=10, leader_first=svc.leader_first)
            self._pidfile(svc.name).unlink(missing_ok=True)
            return {**entry, "state": "failed", "pid": None, "error": str(exc)}
        return {**entry, "state": "started", "ready_s": round(time.monotonic() - spawned, 1)}

    def _finish(self, ports: Ports, report: dict, started: float, skip_after_postgres=False):
        if skip_after_postgres:
            for name in ORDER[1:]:
                report[name] = {"state": "skipped", "error": "PostgreSQL is not running"}
        env = self.client_env(ports)
        data = {
            "home": str(self.home),
            "ports": asdict(ports),
            "components": report,
            "env": env,
            "env_file": str(self.env_file),
        }
        self._write_private(self.endpoints_file, json.dumps(data, indent=2) + "\n")
        lines = [f"export {k}={_sh_quote(v)}" for k, v in env.items()]
        self._write_private(self.env_file, "# slimline's local topology\n" + "\n".join(lines))
        data["ok"] = all(c["state"] in ("running", "started") for c in report.values())
        data["seconds"] = round(time.monotonic() - started, 1)
        return data

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(text + ("" if text.endswith("\n") else "\n"))

    # --- status and down -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Each component: running or stopped, with its pid, URL and log."""
        ports = self.ports()
        saved = self.saved().get("components", {})
        out: dict[str, dict[str, Any]] = {}
        pg = self._postgres(ports)
        out["postgres"] = {
            "state": "running" if pg.pid() else "stopped",
            "pid": pg.pid(),
            "url": f"postgresql://127.0.0.1:{ports.postgres}",
            "log": str(pg.log),
        }
        for name in ORDER[1:]:
            pid = read_pid(self._pidfile(name), services.MARKERS[name])
            entry = {k: v for k, v in saved.get(name, {}).items() if k not in ("error", "ready_s")}
            entry.update(state="running" if pid else "stopped", pid=pid)
            entry.setdefault("log", str(self._log(name)))
            out[name] = entry
        running = all(c["state"] == "running" for c in out.values())
        return {
            "home": str(self.home),
            "running": running,
            "components": out,
            "env_file": str(self.env_file),
        }

    def down(self) -> dict[str, Any]:
        """Stop every component this topology started: the worker first, then the servers
        (together), PostgreSQL last."""
        ports = self.ports()
        saved = self.saved().get("components", {})
        out = {"prefect-worker": self._stop("prefect-worker")}
        with ThreadPoolExecutor(max_workers=3) as pool:
            stopped = pool.map(self._stop, ("prefect-server", "mlflow", "ray"))
            out.update(zip(("prefect-server", "mlflow", "ray"), stopped, strict=True))
        temp_dir = saved.get("ray", {}).get("temp_dir")
        if temp_dir and not out["ray"].startswith("still") and Path(temp_dir).is_dir():
            shutil.rmtree(temp_dir, ignore_errors=True)
        pg = self._postgres(ports)
        if pg.pid() is None:
            out["postgres"] = "not running"
        else:
            out["postgres"] = "stopped" if pg.stop() else "still running"
        ok = all(not state.startswith("still") for state in out.values())
        return {"home": str(self.home), "ok": ok, "components": out}

    def _stop(self, name: str) -> str:
        pidfile = self._pidfile(name)
        pid = read_pid(pidfile, services.MARKERS[name])
        if pid is None:
            state = "not running"
        elif stop_group(pid, timeout=30, leader_first=name == "ray"):
            state = "stopped"
        else:
            state = f"still running (pid {pid})"
        if not state.startswith("still"):
            pidfile.unlink(missing_ok=True)
        return state


def _sh_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
