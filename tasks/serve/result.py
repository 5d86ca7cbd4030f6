"""What a deployment returns: where the bundle is, its manifest, and the smoke test."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class DeployResult(BaseModel):
    """One registered version deployed as a serving bundle."""

    path: str
    manifest: dict[str, Any] = Field(default_factory=dict)
    smoke_test: dict[str, Any] = Field(default_factory=dict)
