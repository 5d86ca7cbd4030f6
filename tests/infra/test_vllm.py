"""The vLLM service of the router's `openai` backend: in the compose file (profile `serve`)
and as a Kubernetes Deployment + Service: a GPU, LoRA with runtime loading, the shared home,
loopback-only on the host, never the raw store."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_compose_runs_vllm_with_lora_on_a_gpu_in_the_serve_profile():
    service = yaml.safe_load((REPO / "infra" / "docker-compose.yaml").read_text())["services"][
        "vllm"
    ]
    assert service["profiles"] == ["serve"]  # not started by a plain `up`
    assert "--enable-lora" in service["command"]
    assert service["environment"]["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert service["ports"] == ["127.0.0.1:8000:8000"]
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "slimline-home:/var/lib/slimline" in service["volumes"]
    assert "SLIMLINE_STORE__RAW_URL" not in str(service)


def test_kubernetes_manifest_serves_vllm_on_a_gpu_behind_a_service():
    docs = {d["kind"]: d for d in yaml.safe_load_all(
        (REPO / "infra" / "kubernetes" / "vllm.yaml").read_text()) if d}  # fmt: skip
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "--enable-lora" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "VLLM_ALLOW_RUNTIME_LORA_UPDATING", "value": "True"} in container["env"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v]  # fmt: skip
    assert claims == ["slimline-home"]
    assert docs["Service"]["spec"]["ports"][0]["port"] == 8000
    assert (
        docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    )
