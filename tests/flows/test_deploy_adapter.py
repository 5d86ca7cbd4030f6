"""A promotion's event reaches a deployment trigger on a real Prefect API, and the
`deploy-adapter` flow it runs exports the champion as a serving bundle that generates."""

import json
import time
from pathlib import Path

import pytest
from testkit.tiny_adapters import CLUSTER_ID, GOOD, SERVES, SLUG, log_train_run

from slimline.store import open_work
from slimline.tasks.evaluate.result import EvalReport, EvaluateResult
from slimline.tasks.evaluate.stage import save_evaluation


def read_artifact(key):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return found[0] if found else None


def flow_runs_of(deployment_id, timeout=60.0):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            if runs:
                return runs
            time.sleep(0.5)
    return []


@pytest.mark.slow
def test_promotion_triggers_deploy_adapter(
    prefect_api, settings, mlflow_uri, tiny_base, tiny_adapters
):
    from slimline.flows.deploy_adapter import deploy_adapter
    from slimline.flows.promote import promote
    from slimline.tasks.promote.events import promoted_trigger

    deployment = deploy_adapter.to_deployment(
        name="on-promotion", triggers=[promoted_trigger()], parameters={"home": str(settings.home)}
    )
    deployment_id = deployment.apply()

    run_id = log_train_run(settings, tiny_adapters["a"], base=tiny_base)
    report = EvalReport(
        cluster_id=CLUSTER_ID,
        slug=SLUG,
        run_id=run_id,
        adapter_uri=f"runs:/{run_id}/adapter",
        base_model=tiny_base,
        n_examples=30,
        metrics={"challenger": GOOD},
        threshold=0.5,
        cascade={"challenger": SERVES},
    )
    save_evaluation(open_work(settings), EvaluateResult(clusters=[report]))
    outcome = promote(home=str(settings.home))  # the promote flow: gate, aliases, event
    promotion = outcome.promotions[0].model_dump()
    assert promotion["promoted"] and promotion["event_id"]
    assert read_artifact("promotion") is not None  # the gate's decisions
    assert read_artifact("slimline-report") is not None  # what the champions now serve

    runs = flow_runs_of(deployment_id)
    assert len(runs) == 1, "the promotion event did not trigger the deployment"
    params = runs[0].parameters
    assert params["model_name"] == SLUG and int(params["version"]) == promotion["version"]

    # what the triggered run does, run here with the parameters the trigger gave it
    result = deploy_adapter(**params).model_dump()
    bundle = Path(result["path"])
    assert bundle == settings.adapters_dir / SLUG / f"v{promotion['version']}"
    assert (bundle / "adapter_config.json").is_file()
    assert (bundle / "adapter_model.safetensors").is_file()
    manifest = json.loads((bundle / "slimline-bundle.json").read_text())
    assert manifest["base_model"] == tiny_base and manifest["version"] == promotion["version"]
    assert manifest["smoke_test"]["new_tokens"] > 0
    assert (bundle.parent / "current").read_text().strip() == f"v{promotion['version']}"
