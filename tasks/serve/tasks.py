"""Serve's Prefect tasks: deploy a registered version, with a markdown artifact saying what
was deployed where; tell the running router to serve the registry's champions."""

from __future__ import annotations

import re

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.serve.result import DeployResult
from slimline.tasks.serve.stage import reload_router, run_deploy


@task(name="deploy", cache_policy=NO_CACHE)
def deploy_task(settings: Settings, model_name: str, version: int | None = None) -> DeployResult:
    """Bundle and smoke-test `model_name` v`version` (None: the champion)."""
    result = run_deploy(settings, model_name, version)
    m, smoke = result.manifest, result.smoke_test
    create_markdown_artifact(
        key=re.sub(r"[^a-z0-9-]+", "-", f"adapter-{m['slug']}".lower()),
        markdown=(
            f"# {m['model']} v{m['version']} deployed\n\n- bundle: `{result.path}`\n"
            f"- base model: `{m['base_model']}`\n- smoke test: {smoke['new_tokens']} tokens "
            f"in {smoke['seconds']} s\n"
        ),
    )
    return result


@task(name="reload-router", cache_policy=NO_CACHE)
def reload_router_task(settings: Settings) -> dict:
    """Make a running router (`slimline serve`) serve the registry's champions now."""
    return reload_router(settings)
