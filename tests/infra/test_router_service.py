"""The router as a service: in the compose file (profile `serve`, beside vLLM; the merged
DoRA server in profile `serve-dora`) and as a Kubernetes Deployment + Service. Its settings
are read back through slimline's own config, so what the files set is what `slimline serve`
gets: the `openai` backend on the vLLM service, listening on every interface inside the
container but published on the host's loopback only, the reload endpoint open to the
Prefect worker whose deploy-adapter flow calls it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from test_compose import COMPOSE, ENV_EXAMPLE, _compose_cli

REPO = Path(__file__).resolve().parents[2]
HOME = "/var/lib/slimline"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """The serve profiles as Compose renders them, a DoRA champion's slug and version set."""
    cmd = _compose_cli()
    if cmd is None:
        pytest.skip("Docker Compose v2 is not installed (`docker compose` plugin missing)")
    env = tmp_path_factory.mktemp("env") / ".env"
    env.write_text(ENV_EXAMPLE.read_text() + "\nSLIMLINE_DORA_SLUG=tau2-airline\n"
                   "SLIMLINE_DORA_VERSION=3\n")  # fmt: skip
    args = ["-f", str(COMPOSE), "--env-file", str(env), "--profile", "serve",
            "--profile", "serve-dora", "config", "--format", "json"]  # fmt: skip
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["services"]


def settings_from(env: dict[str, str], monkeypatch, tmp_path):
    """slimline's settings as a container with `env` reads them."""
    from slimline.config import load_settings

    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    return load_settings(home=tmp_path / "home")


def test_compose_runs_the_router_in_the_serve_profile_on_loopback(raw):
    router = raw["services"]["router"]
    assert router["profiles"] == raw["services"]["vllm"]["profiles"] == ["serve"]
    assert router["command"] == ["slimline", "serve"]
    assert router["ports"] == ["127.0.0.1:8788:8788"]
    env = router["environment"]
    assert env["SLIMLINE_SERVE__HOST"] == "0.0.0.0" and env["SLIMLINE_SERVE__PORT"] == "8788"
    assert f"slimline-home:{HOME}" in router["volumes"] and env["SLIMLINE_HOME"] == HOME
    assert "RAY_AUTH_TOKEN" not in env  # it trains nothing
    assert router["depends_on"]["vllm"] and router["depends_on"]["postgres"]


def test_compose_router_shares_the_stores_and_is_reloaded_by_the_prefect_worker(rendered):
    env, worker = rendered["router"]["environment"], rendered["prefect-worker"]["environment"]
    for name in ("SLIMLINE_HOME", "SLIMLINE_STORE__RAW_URL", "SLIMLINE_STORE__WORK_URL",
                 "SLIMLINE_TRACKING__MLFLOW_TRACKING_URI", "SLIMLINE_TRACKING__PREFECT_API_URL",
                 "PREFECT_API_URL"):  # fmt: skip
        assert env[name] == worker[name], name
    # deploy-adapter, run by the worker, reaches the router by its service name and port...
    assert worker["SLIMLINE_SERVE__ROUTER_URL"] == f"http://router:{env['SLIMLINE_SERVE__PORT']}"
    # ...and the router lets that worker (by its service name) and loopback reload it
    allow = json.loads(env["SLIMLINE_SERVE__RELOAD_ALLOW"])
    assert {"127.0.0.1", "::1", "prefect-worker"} == set(allow)
    assert all(a in rendered or a in ("127.0.0.1", "::1") for a in allow)


def test_compose_router_reads_back_as_the_openai_backend_on_vllm(rendered, monkeypatch, tmp_path):
    router, vllm = rendered["router"], rendered["vllm"]
    assert [(p["host_ip"], p["published"], p["target"]) for p in router["ports"]] == [
        ("127.0.0.1", "8788", 8788)
    ]
    serve = settings_from(router["environment"], monkeypatch, tmp_path).serve
    assert serve.backend == "openai" and serve.host == "0.0.0.0" and serve.port == 8788
    assert serve.backend_url == "http://vllm:8000/v1"
    assert vllm["command"][vllm["command"].index("--port") + 1] == "8000"
    assert serve.upstream.startswith("https://") and serve.backend_models == {}
    assert serve.reload_allow == ["127.0.0.1", "::1", "prefect-worker"]
    assert "SLIMLINE_STORE__RAW_URL" not in vllm.get("environment", {})


def test_compose_serves_a_dora_champion_merged_under_the_name_the_router_asks_for(
    rendered, tmp_path
):
    from slimline.config import load_settings
    from slimline.tasks.serve.bundle import MERGED
    from slimline.tasks.serve.champions import Champion

    merged = rendered["vllm-merged"]
    assert merged["profiles"] == ["serve-dora"]
    assert [(p["host_ip"], p["target"]) for p in merged["ports"]] == [("127.0.0.1", 8000)]
    command = merged["command"]
    champion = Champion("tau2-airline", 3, 0, "", Path(), None, 0.0)  # what the router reads
    settings = load_settings(home=tmp_path / "home")
    layout = settings.adapters_dir.relative_to(settings.path())
    bundle = Path(HOME) / layout / "tau2-airline" / "v3"  # where deploy-adapter writes it
    assert command[command.index("--model") + 1] == str(bundle / MERGED)
    assert command[command.index("--served-model-name") + 1] == champion.adapter
    (volume,) = merged["volumes"]
    assert volume["target"] == HOME and volume["read_only"]


def test_kubernetes_router_serves_on_the_vllm_service_behind_its_own():
    docs = {d["kind"]: d for d in yaml.safe_load_all(
        (REPO / "infra" / "kubernetes" / "router.yaml").read_text()) if d}  # fmt: skip
    vllm = {d["kind"]: d for d in yaml.safe_load_all(
        (REPO / "infra" / "kubernetes" / "vllm.yaml").read_text()) if d}  # fmt: skip
    deployment, service = docs["Deployment"], docs["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["slimline", "serve"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["SLIMLINE_SERVE__HOST"] == "0.0.0.0"
    port = int(env["SLIMLINE_SERVE__PORT"])
    assert container["ports"][0]["containerPort"] == port
    assert service["spec"]["ports"][0]["targetPort"] == port
    assert container["readinessProbe"]["httpGet"] == {"path": "/slimline/router", "port": port}
    vllm_service = vllm["Service"]
    assert env["SLIMLINE_SERVE__BACKEND"] == "openai"
    assert env["SLIMLINE_SERVE__BACKEND_URL"] == (
        f"http://{vllm_service['metadata']['name']}:{vllm_service['spec']['ports'][0]['port']}/v1"
    )
    assert env["SLIMLINE_STORE__RAW_URL"]["secretKeyRef"] == {"name": "slimline-stores",
                                                              "key": "raw_url"}  # fmt: skip
    allow = json.loads(env["SLIMLINE_SERVE__RELOAD_ALLOW"])
    assert {"127.0.0.1", "::1"} <= set(allow)
    prefect = env["PREFECT_API_URL"]["secretKeyRef"]  # the shadow checks' disable event
    assert prefect["name"] == "slimline-stores" and prefect["optional"] is True
    # pods' addresses change: a reload is admitted by the shared token the variable holds
    token_env = env["SLIMLINE_SERVE__RELOAD_TOKEN_ENV"]
    assert env[token_env]["secretKeyRef"] == {"name": "slimline-reload", "key": "token"}
    assert json.loads(env["SLIMLINE_SERVE__BACKEND_MODELS"]) == {}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["slimline-home"] == env["SLIMLINE_HOME"] == HOME
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]]
    assert claims == ["slimline-home"]
