"""Deploying a champion: export a registered version (default: the champion) as a serving
bundle under $SLIMLINE_HOME/adapters/<slug>/v<version>/ (bundle.py) and smoke-test it."""

from __future__ import annotations

from slimline.config import Settings
from slimline.tasks.serve.bundle import export_bundle, smoke_test
from slimline.tasks.serve.result import DeployResult


def run_deploy(settings: Settings, model_name: str, version: int | None = None) -> DeployResult:
    """Bundle `model_name` version `version` (None: its champion) and generate once with it."""
    bundle = export_bundle(settings, model_name, version)
    smoke = smoke_test(bundle, settings.serve.smoke_max_new_tokens)
    return DeployResult(path=str(bundle.path), manifest=bundle.manifest, smoke_test=smoke)
