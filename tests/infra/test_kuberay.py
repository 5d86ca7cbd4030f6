"""infra/kuberay/: the RayCluster (CPU head, GPU worker group) and the RayJob that runs
`slimline train` on it. Parsed and checked for the structure KubeRay (ray.io/v1) expects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

KUBERAY = Path(__file__).resolve().parents[2] / "infra" / "kuberay"


def _docs(name: str) -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all((KUBERAY / name).read_text()) if d}


@pytest.fixture(scope="module")
def cluster() -> dict:
    return _docs("raycluster.yaml")["RayCluster"]


def test_raycluster_has_a_cpu_head_and_a_gpu_worker_group(cluster):
    assert cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert spec["rayVersion"] == "2.60.0"
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0"
    head_limits = head["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in head_limits
    (gpu,) = spec["workerGroupSpecs"]
    assert gpu["minReplicas"] <= gpu["replicas"] <= gpu["maxReplicas"]
    container = gpu["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] >= 1
    tolerations = gpu["template"]["spec"]["tolerations"]
    assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)


def test_raycluster_uses_token_auth_and_never_the_raw_store(cluster):
    assert cluster["spec"]["authOptions"] == {"mode": "token", "secretName": "slimline-ray-token"}
    for group in [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]:
        env = {e["name"] for e in group["template"]["spec"]["containers"][0]["env"]}
        assert "SLIMLINE_STORE__WORK_URL" in env
        assert "SLIMLINE_STORE__RAW_URL" not in env


def test_shared_home_volume_is_claimed():
    pvc = _docs("raycluster.yaml")["PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == "slimline-home"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_rayjob_runs_slimline_train_on_that_cluster(cluster):
    job = _docs("rayjob.yaml")["RayJob"]
    assert job["apiVersion"] == "ray.io/v1"
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert job["spec"]["entrypoint"].startswith("slimline train")
    runtime_env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    assert runtime_env["env_vars"]["SLIMLINE_TRAIN__RAY_ADDRESS"] == "auto"
    submitter = job["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
    token = next(e for e in submitter["env"] if e["name"] == "RAY_AUTH_TOKEN")
    assert (
        token["valueFrom"]["secretKeyRef"]["name"] == cluster["spec"]["authOptions"]["secretName"]
    )


def test_the_train_config_accepts_the_cluster_addresses():
    from slimline.config import load_settings

    for address in ("auto", "ray://slimline-head-svc:10001"):
        assert load_settings(train={"ray_address": address}).train.ray_address == address
