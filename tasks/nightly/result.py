"""What one night did, stage by stage, and its headline."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class NightRun(BaseModel):
    """The night's MLflow parent run, opened before its first stage."""

    run_id: str
    started: float  # time.time() when the night began


class NightlyResult(BaseModel):
    """What one night did, stage by stage (counts, no call content), and the headline."""

    mlflow_run_id: str | None = None
    nothing_new: bool = False
    stages: dict[str, dict[str, Any]] = Field(default_factory=dict)
    headline: str = ""
    served_share: float = 0.0
    seconds: float = 0.0
