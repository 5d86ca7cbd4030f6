"""The one typed config: `Settings`, with a sub-model per stage (each stage owns its fields).

Read at the entry point only (`load_settings`), never at import. Precedence, highest first:
explicit overrides (CLI flags) > `SLIMLINE_*` environment variables (nested with `__`, e.g.
`SLIMLINE_TRAIN__RANK=8`) > the YAML file (`--config`, `SLIMLINE_CONFIG`, or `./slimline.yaml`)
> defaults. Paths under SLIMLINE_HOME are derived here and nowhere else.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from slimline.tasks.cluster.config import ClusterConfig
from slimline.tasks.collect.config import CollectConfig
from slimline.tasks.evaluate.config import EvaluateConfig
from slimline.tasks.nightly.config import NightlyConfig, ScheduleConfig
from slimline.tasks.promote.config import PromoteConfig
from slimline.tasks.report.config import ReportConfig
from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.select.config import SelectConfig
from slimline.tasks.serve.config import ServeConfig
from slimline.tasks.train.config import TrainConfig

MOVED_PROMOTE_KEYS = {"slm_price_per_mtok": "report", "smoke_max_new_tokens": "serve"}

_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("slimline_yaml_data", default=None)


class ConfigError(ValueError):
    """A config file or value that cannot be used; the message says which and why."""


class StoreConfig(BaseModel):
    """Where the raw and work stores live."""

    raw_url: str | None = Field(
        default=None, description="raw store URL; None: sqlite:///$SLIMLINE_HOME/raw.db"
    )
    work_url: str | None = Field(
        default=None, description="work store URL; None: sqlite:///$SLIMLINE_HOME/work.db"
    )
    raw_retention_days: int | None = Field(
        default=90, description="raw calls older than this are purged; None keeps them"
    )


class TrackingConfig(BaseModel):
    """MLflow and Prefect endpoints."""

    mlflow_tracking_uri: str | None = Field(
        default=None, description="None: sqlite:///$SLIMLINE_HOME/mlflow.db"
    )
    experiment: str = Field(default="slimline", description="MLflow experiment of every run")
    prefect_api_url: str | None = Field(
        default=None, description="a Prefect server's API; None: Prefect's ephemeral API"
    )


class Settings(BaseSettings):
    """Everything slimline can be told, with defaults that run on one laptop."""

    model_config = SettingsConfigDict(
        env_prefix="SLIMLINE_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Field(default=Path(".slimline"), description="all embedded-default state")
    profile: str = Field(default="default", description="named profile (e.g. demo)")
    store: StoreConfig = Field(default_factory=StoreConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    nightly: NightlyConfig = Field(default_factory=NightlyConfig)
    collect: CollectConfig = Field(default_factory=CollectConfig)
    scrub: ScrubConfig = Field(default_factory=ScrubConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    select: SelectConfig = Field(default_factory=SelectConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    promote: PromoteConfig = Field(default_factory=PromoteConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """Keys that moved: `promote.slm_price_per_mtok` to `report.`, and
        `promote.smoke_max_new_tokens` to `serve.`."""
        if isinstance(data, dict) and isinstance(data.get("promote"), dict):
            promote = dict(data["promote"])
            for key, section in MOVED_PROMOTE_KEYS.items():
                if key in promote:
                    moved = dict(data.get(section) or {})
                    moved.setdefault(key, promote.pop(key))
                    data = {**data, section: moved}
            data = {**data, "promote": promote}
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    # --- derived locations ---------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        return self.home.resolve().joinpath(*parts)

    @property
    def raw_store_url(self) -> str:
        return self.store.raw_url or f"sqlite:///{self.path('raw.db')}"

    @property
    def work_store_url(self) -> str:
        return self.store.work_url or f"sqlite:///{self.path('work.db')}"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.tracking.mlflow_tracking_uri or f"sqlite:///{self.path('mlflow.db')}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.path("mlartifacts")

    @property
    def prefect_home(self) -> Path:
        return self.path("prefect")

    @property
    def adapters_dir(self) -> Path:
        return self.path("adapters")

    @property
    def logs_dir(self) -> Path:
        return self.path("logs")

    def public_dump(self) -> dict[str, Any]:
        """The effective config as plain data, with passwords in URLs masked."""
        from slimline.store.base import masked

        data = self.model_dump(mode="json")
        data["home"] = str(self.home.resolve())
        data["store"]["raw_url"] = masked(self.raw_store_url)
        data["store"]["work_url"] = masked(self.work_store_url)
        data["tracking"]["mlflow_tracking_uri"] = masked(self.mlflow_tracking_uri)
        return data


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file's values (loaded by load_settings), below env vars and overrides."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


PROFILES: dict[str, dict[str, Any]] = {
    # The night on the bundled data on 2 CPU cores in about 20 minutes, trained long enough
    # that the small model is right on part of its cluster and knows it (docs/evaluate-and-
    # promote.md, "A recipe that serves"): 150 steps of 2 examples at a constant 5e-4.
    "demo": {
        # max_seq_len 384: tool-call completions are short (p50 29 tokens in the bundled
        # telecom calls), so the prompt window is what costs; 384 keeps the newest 128 prompt
        # tokens and makes an example ~2.4x cheaper than 640. No dropout: LoRA dropout keeps
        # a dropped copy of each adapted layer's input for the backward pass (docs/train.md).
        "train": {
            "max_steps": 150,
            "max_seq_len": 384,
            "batch_size": 2,
            "grad_accum": 1,
            "learning_rate": 5e-4,
            "lr_scheduler": "constant",
            "rank": 16,
            "alpha": 32,
            "dropout": 0.0,
            # 40% of conversations held out: half calibrate the threshold, half test it
            "eval_fraction": 0.4,
        },
        # 48 calibration and 48 test calls: enough for the gate's minimums, and the night
        # stays within its budget on 2 cores
        "evaluate": {
            "max_new_tokens": 96,
            "max_calibration": 48,
            "max_examples": 48,
            "base_examples": 8,
        },
        # one cluster a night, the one with the most calls a small model could serve
        # (nightly.priority); the others wait for the following nights
        "nightly": {"max_clusters": 1},
    },
}


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the effective settings. Call it at an entry point (CLI, flow, test), never at import.

    `config_file` defaults to $SLIMLINE_CONFIG, then ./slimline.yaml if present. A named
    `profile` (from any layer) fills in values the file and environment leave unset.
    """
    path = config_file or os.environ.get("SLIMLINE_CONFIG")
    if path is None and Path("slimline.yaml").exists():
        path = "slimline.yaml"
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {p} must hold a mapping at the top level")
    profile = overrides.get("profile") or os.environ.get("SLIMLINE_PROFILE") or data.get("profile")
    if profile and profile != "default":
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        data = _deep_merge(PROFILES[profile], data)
    token = _yaml_data.set(data)
    try:
        from pydantic import ValidationError

        try:
            return Settings(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            from slimline.record import describe_errors

            where = f"config ({path})" if path else "config"
            raise ConfigError(f"{where}: " + "; ".join(describe_errors(exc))) from None
    finally:
        _yaml_data.reset(token)
