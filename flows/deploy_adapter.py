"""The `deploy-adapter` flow: export a registered adapter (default: the champion) as a
serving bundle under $SLIMLINE_HOME/adapters/<slug>/v<version>/ and smoke-test it.

A deployment of it triggers on `slimline.adapter.promoted` (tasks/promote/events.py,
`promoted_trigger`), which passes the promoted model and version.
"""

from __future__ import annotations

import re
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from slimline.config import load_settings
from slimline.runtime import configure
from slimline.tasks.promote.tasks import export_bundle_task, smoke_test_task


@flow(name="deploy-adapter")
def deploy_adapter(
    model_name: str,
    version: int | None = None,
    home: str | None = None,
    config: str | None = None,
) -> dict[str, Any]:
    """Bundle `model_name` version `version` (None: its champion) and generate once with it."""
    settings = load_settings(config, home=home)
    configure(settings)
    bundle = export_bundle_task(settings, model_name, version)
    smoke = smoke_test_task(bundle, settings.promote.smoke_max_new_tokens)
    m = bundle.manifest
    create_markdown_artifact(
        key=re.sub(r"[^a-z0-9-]+", "-", f"adapter-{m['slug']}".lower()),
        markdown=(
            f"# {m['model']} v{m['version']} deployed\n\n- bundle: `{bundle.path}`\n"
            f"- base model: `{m['base_model']}`\n- smoke test: {smoke['new_tokens']} tokens "
            f"in {smoke['seconds']} s\n"
        ),
    )
    return {"path": str(bundle.path), "manifest": m, "smoke_test": smoke}


if __name__ == "__main__":
    import sys

    deploy_adapter(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
