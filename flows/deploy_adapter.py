"""The `deploy-adapter` flow: export a registered adapter (default: the champion) as a
serving bundle under $SLIMLINE_HOME/adapters/<slug>/v<version>/, smoke-test it, and make a
running router (`slimline serve`) serve the registry's champions now.

A deployment of it triggers on `slimline.adapter.promoted` (tasks/promote/events.py,
`promoted_trigger`), which passes the promoted model and version; a rollback emits the same
event, so the router goes back the same way.
"""

from __future__ import annotations

import sys

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.serve.result import DeployResult
from slimline.tasks.serve.tasks import deploy_task, reload_router_task


@flow(name="deploy-adapter")
def deploy_adapter(
    model_name: str,
    version: int | None = None,
    home: str | None = None,
    config: str | None = None,
    profile: str | None = None,
) -> DeployResult:
    """Bundle `model_name` version `version` (None: its champion), generate once with it, and
    tell the running router (if any) to serve the current champions."""
    settings = flow_settings(home, config, profile)
    result = deploy_task(settings, model_name, version)
    result.router = reload_router_task(settings)
    return result


if __name__ == "__main__":
    deploy_adapter(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
