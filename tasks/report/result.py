"""What the report stage returns: the served summary, its headline and the report page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ReportResult(BaseModel):
    """The headline figures (`summary`: tasks/report/summary.py), in words and as markdown."""

    summary: dict[str, Any] = Field(default_factory=dict)
    headline: str = ""
    markdown: str = ""
    mlflow_run_id: str | None = None

    @property
    def served_share(self) -> float:
        return float(self.summary.get("served_share_calls") or 0.0)
