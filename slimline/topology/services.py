"""The topology's servers besides PostgreSQL: how each is started and how we know it is up.

- prefect-server: `prefect server start` on 127.0.0.1, its database on the topology's
  PostgreSQL (asyncpg), analytics off.
- mlflow: `mlflow server` with one worker and no job execution (FACTS: ~0.5 GB instead of
  ~3 GB), backend store on PostgreSQL (psycopg 3), artifacts served from a folder.
- ray: `ray start --head --block` in its own session so that stopping its process group
  stops every Ray process it started (never `ray stop`, which stops every Ray on the
  machine). Token authentication on, with a token of the topology's own.
- prefect-worker: `prefect worker start` on the process pool, with the client environment
  so that the flows it runs use the topology's stores and servers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from slimline.topology.process import http_ok

POOL = "slimline-process"
# what the command line of each server holds: a pid whose command line does not is not ours
MARKERS = {
    "prefect-server": "prefect server start",
    "mlflow": "mlflow server",
    "ray": "ray start --head",
    "prefect-worker": "prefect worker start",
}


@dataclass
class Service:
    """A detached server: its command, environment, the URL it serves and a readiness test."""

    name: str
    marker: str  # a substring of its command line that tells it is ours
    cmd: list[str]
    env: dict[str, str]
    url: str
    timeout: float
    ports: tuple[int, ...] = ()  # must be free before it starts
    leader_first: bool = False  # stop by signalling only the leader (it stops the rest)
    ready_url: str | None = None
    ready_log_text: str | None = None
    ready_fn: Callable[[], bool] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def ready(self, log: Path, log_offset: int) -> bool:
        """True once the server answers (its health URL, a line in its log, or a probe)."""
        if self.ready_fn is not None:
            return self.ready_fn()
        if self.ready_url is not None:
            return http_ok(self.ready_url)
        if self.ready_log_text is not None:
            try:
                with log.open("rb") as f:
                    f.seek(log_offset)
                    return self.ready_log_text.encode() in f.read()
            except OSError:
                return False
        return True


def _bin(name: str) -> str:
    """A console script of this environment (the venv that runs slimline)."""
    return str(Path(sys.executable).with_name(name))


def _base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.update(extra)
    return env


def prefect_server(root: Path, port: int, database_url: str) -> Service:
    env = _base_env(
        PREFECT_HOME=str(root / "prefect"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=database_url,
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    url = f"http://127.0.0.1:{port}"
    cmd = [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    return Service(
        "prefect-server",
        MARKERS["prefect-server"],
        cmd,
        env,
        url,
        timeout=180,
        ports=(port,),
        ready_url=f"{url}/api/health",
    )


def mlflow_server(root: Path, port: int, backend_url: str) -> Service:
    artifacts = root / "mlflow" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    env = _base_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    url = f"http://127.0.0.1:{port}"
    cmd = [
        _bin("mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        backend_url,
        "--artifacts-destination",
        str(artifacts),
    ]
    return Service(
        "mlflow",
        MARKERS["mlflow"],
        cmd,
        env,
        url,
        timeout=180,
        ports=(port,),
        ready_url=f"{url}/health",
    )


def ray_head(
    root: Path, port: int, dashboard_port: int, client_port: int, cpus: int | None
) -> Service:
    from slimline.topology.process import free_port

    token = ray_token(root)
    # Ray's Unix sockets live under its temp dir: keep that path short (sun_path is 107 bytes)
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]
    temp_dir = Path("/tmp") / f"slimline-ray-{digest}"
    env = _base_env(
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), RAY_USAGE_STATS_ENABLED="0"
    )
    cmd = [
        _bin("ray"),
        "start",
        "--head",
        "--block",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(dashboard_port),
        "--ray-client-server-port",
        str(client_port),
        "--dashboard-agent-listen-port",
        str(free_port()),
        "--temp-dir",
        str(temp_dir),
        "--disable-usage-stats",
    ]
    if cpus is not None:
        cmd += ["--num-cpus", str(cpus)]
    return Service(
        "ray",
        MARKERS["ray"],
        cmd,
        env,
        f"127.0.0.1:{port}",
        timeout=180,
        ports=(port, dashboard_port, client_port),
        leader_first=True,
        ready_log_text="Ray runtime started",
        extra={
            "dashboard": f"http://127.0.0.1:{dashboard_port}",
            "client": f"ray://127.0.0.1:{client_port}",
            "temp_dir": str(temp_dir),
        },
    )


def ray_token(root: Path) -> Path:
    """The topology's Ray authentication token (made once, 0600)."""
    import secrets

    path = root / "ray" / "auth_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path


def prefect_worker(root: Path, api_url: str, client_env: dict[str, str]) -> Service:
    env = _base_env(
        **client_env,
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(root / "worker"),
        PREFECT_WORKER_QUERY_SECONDS="5",
    )
    cmd = [
        _bin("prefect"),
        "worker",
        "start",
        "--pool",
        POOL,
        "--type",
        "process",
        "--name",
        "slimline-local",
    ]
    return Service(
        "prefect-worker",
        MARKERS["prefect-worker"],
        cmd,
        env,
        f"pool {POOL} at {api_url}",
        timeout=120,
        ready_fn=lambda: worker_online(api_url),
    )


def worker_online(api_url: str, pool: str = POOL) -> bool:
    """True when the Prefect API lists an online worker in `pool`."""
    req = urllib.request.Request(
        f"{api_url}/work_pools/{pool}/workers/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            workers = json.loads(resp.read())
    except (OSError, ValueError):
        return False
    return any(w.get("status") == "ONLINE" for w in workers)
