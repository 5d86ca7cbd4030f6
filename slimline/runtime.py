"""Wiring at the entry point: SLIMLINE_HOME's folders, Prefect's and MLflow's settings, logs.

`configure(settings)` runs once, before Prefect or MLflow is imported by a command: both read
their settings from the environment (`flow_settings` does the same from a flow's parameters).
Embedded defaults: Prefect's ephemeral API with its state under $SLIMLINE_HOME/prefect,
MLflow on $SLIMLINE_HOME/mlflow.db with artifacts in $SLIMLINE_HOME/mlartifacts. A Prefect
API URL or an MLflow tracking URI in the config wins.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from slimline.config import Settings, load_settings

log = logging.getLogger("slimline")


def configure(settings: Settings) -> None:
    """Create SLIMLINE_HOME's folders and point Prefect, MLflow and the logs at them."""
    for folder in (
        settings.path(),
        settings.prefect_home,
        settings.adapters_dir,
        settings.logs_dir,
        settings.mlflow_artifacts,
    ):
        folder.mkdir(parents=True, exist_ok=True)
    env = os.environ
    env["PREFECT_HOME"] = str(settings.prefect_home)
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    if settings.tracking.prefect_api_url:
        env["PREFECT_API_URL"] = settings.tracking.prefect_api_url
    env["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("TLDEXTRACT_CACHE", str(settings.path("cache", "tldextract")))
    _log_to_file(settings.logs_dir / "slimline.log")


def _log_to_file(path: Path) -> None:
    root = logging.getLogger("slimline")
    root.setLevel(logging.INFO)
    if any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def flow_settings(home: str | None, config: str | None, profile: str | None = None) -> Settings:
    """The prologue of every flow: its parameters -> the effective settings, wired."""
    settings = load_settings(config, home=home, profile=profile)
    configure(settings)
    return settings
