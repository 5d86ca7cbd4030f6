"""`slimline ui`: the MLflow UI and a Prefect server on 127.0.0.1, and both gone when a
process manager stops it with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_ui_stops_both_servers_on_sigterm(tmp_path):
    """SIGTERM, as a process manager or `kill` sends it (Ctrl-C's SIGINT takes the same
    path: both end in the one cleanup that stops the servers)."""
    stop = signal.SIGTERM
    import psutil

    mlflow_port, prefect_port = _free_port(), _free_port()
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "slimline", "--home", str(tmp_path / "home"), "ui",
           "--mlflow-port", str(mlflow_port), "--prefect-port", str(prefect_port),
           "--seconds", "300"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    urls = [f"http://127.0.0.1:{mlflow_port}/health", f"http://127.0.0.1:{prefect_port}/api/health"]
    try:
        deadline = time.monotonic() + 180
        while not all(_healthy(u) for u in urls):
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the UIs did not come up"
            time.sleep(1)
        servers = psutil.Process(proc.pid).children(recursive=True)
        assert servers
        proc.send_signal(stop)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(servers, timeout=30)
        assert not alive, [p.cmdline()[:3] for p in alive]
        assert not any(_healthy(u) for u in urls)
    finally:
        if proc.poll() is None:
            proc.kill()
