"""deployments/prefect.yaml and `slimline deploy`, without a server: the file's schedules,
work pool, entrypoints and promotion trigger are what Prefect and the flows accept. The
integration test (tests/slimline/test_topology.py) registers and runs them for real."""

from __future__ import annotations

import ast
from pathlib import Path

import jinja2.sandbox
import pytest
import yaml
from typer.testing import CliRunner

from slimline.cli import app

REPO = Path(__file__).resolve().parents[2]
PREFECT_FILE = REPO / "deployments" / "prefect.yaml"


@pytest.fixture(scope="module")
def deployments() -> list[dict]:
    return yaml.safe_load(PREFECT_FILE.read_text())["deployments"]


def _by_entrypoint(deployments: list[dict], suffix: str) -> dict:
    (found,) = [d for d in deployments if d["entrypoint"].endswith(suffix)]
    return found


def _flow_params(entrypoint: str) -> list[str] | None:
    """The parameter names of the @flow function an entrypoint names (None: no file yet)."""
    from slimline.deploy import entrypoint_file

    path, name = entrypoint_file(entrypoint, REPO), entrypoint.rsplit(".", 1)[-1]
    if path is None:
        return None
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            decorators = [ast.unparse(d) for d in node.decorator_list]
            assert any(d.startswith("flow") for d in decorators), f"{entrypoint} is no @flow"
            return [a.arg for a in node.args.args + node.args.kwonlyargs]
    raise AssertionError(f"{path} defines no function {name}")


def test_every_deployment_runs_in_the_process_pool(deployments):
    from slimline.topology import POOL

    assert {d["work_pool"]["name"] for d in deployments} == {POOL}
    names = {(d["entrypoint"], d["name"]) for d in deployments}
    assert len(names) == len(deployments)
    stages = {d["entrypoint"] for d in deployments if d["name"] == "manual"}
    assert stages == {
        f"slimline.flows.{s}.{s}"
        for s in ("collect", "scrub", "cluster", "select", "train", "evaluate", "promote", "report")
    }


def test_every_flow_has_a_deployment_and_the_same_settings_parameters(deployments):
    """One name per flow (its installed module), and every flow takes home/config/profile."""
    flows = sorted(p.stem for p in (REPO / "flows").glob("*.py") if p.stem != "__init__")
    entry = {d["entrypoint"].rsplit(".", 2)[-2]: d["entrypoint"] for d in deployments}
    assert sorted(entry) == flows
    for name in flows:
        assert entry[name].startswith(f"slimline.flows.{name}.")
        assert {"home", "config", "profile"} <= set(_flow_params(entry[name])), name


def test_entrypoints_name_flows_with_the_parameters_they_are_given(deployments):
    for spec in deployments:
        params = _flow_params(spec["entrypoint"])
        if params is None:
            continue  # arrives with its stage; `slimline deploy` reports it as skipped
        assert set(spec.get("parameters") or {}) <= set(params), spec["name"]


def test_nightly_schedule_comes_from_the_config(deployments, monkeypatch):
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.utilities.templating import apply_values

    from slimline.config import load_settings

    monkeypatch.setenv("SLIMLINE_SCHEDULE__CRON", "30 3 * * 1-5")
    monkeypatch.setenv("SLIMLINE_SCHEDULE__TIMEZONE", "Europe/Berlin")
    settings = load_settings()
    (schedule,) = _by_entrypoint(deployments, "flows.nightly.nightly")["schedules"]
    # `slimline deploy` exports the config's values under these names for Prefect's templating
    monkeypatch.setenv("SLIMLINE_SCHEDULE__CRON", settings.schedule.cron)
    rendered = apply_values(schedule, {}, remove_notset=False)
    cron = CronSchedule(cron=rendered["cron"], timezone=rendered["timezone"])
    assert (cron.cron, cron.timezone) == ("30 3 * * 1-5", "Europe/Berlin")


def test_promotion_trigger_renders_deploy_adapter_parameters(deployments):
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    from slimline.tasks.promote.events import PROMOTED_EVENT, promoted_resource, promoted_trigger

    spec = _by_entrypoint(deployments, "flows.deploy_adapter.deploy_adapter")
    (raw,) = spec["triggers"]
    trigger = DeploymentEventTrigger.model_validate(raw)
    assert trigger.expect == {PROMOTED_EVENT}
    reference = promoted_trigger()  # the promote stage's own definition of the trigger
    assert trigger.match == reference.match and trigger.parameters == reference.parameters

    resource = promoted_resource("refund-requests", 4, "slimline-refund-requests", 7)
    assert resource["prefect.resource.id"].startswith(raw["match"]["prefect.resource.id"][:-1])
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    event = {"resource": resource}
    rendered = {k: env.from_string(v).render(event=event) for k, v in trigger.parameters.items()}
    assert rendered == {"model_name": "slimline-refund-requests", "version": "7"}
    params = _flow_params(spec["entrypoint"])
    assert params is not None and set(rendered) <= set(params)


def test_deploy_without_a_prefect_server_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("SLIMLINE_TRACKING__PREFECT_API_URL", raising=False)
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "deploy"])
    assert result.exit_code == 2
    assert "PREFECT_API_URL" in result.output and "slimline up" in result.output


def test_deploy_to_a_server_that_does_not_answer_fails_clearly(tmp_path, monkeypatch):
    from slimline.topology.process import free_port

    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("SLIMLINE_TRACKING__PREFECT_API_URL", url)
    monkeypatch.setenv("PREFECT_API_URL", url)  # restored afterwards (the CLI exports it)
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "deploy"])
    assert result.exit_code == 2
    assert f"the Prefect server at {url} does not answer" in result.output
