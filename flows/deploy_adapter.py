"""The `deploy-adapter` flow: export a registered adapter (default: the champion) as a
serving bundle under $SLIMLINE_HOME/adapters/<slug>/v<version>/ and smoke-test it.

A deployment of it triggers on `slimline.adapter.promoted` (tasks/promote/events.py,
`promoted_trigger`), which passes the promoted model and version.
"""

from __future__ import annotations

import sys

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.serve.result import DeployResult
from slimline.tasks.serve.tasks import deploy_task


@flow(name="deploy-adapter")
def deploy_adapter(
    model_name: str,
    version: int | None = None,
    home: str | None = None,
    config: str | None = None,
    profile: str | None = None,
) -> DeployResult:
    """Bundle `model_name` version `version` (None: its champion) and generate once with it."""
    return deploy_task(flow_settings(home, config, profile), model_name, version)


if __name__ == "__main__":
    deploy_adapter(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
