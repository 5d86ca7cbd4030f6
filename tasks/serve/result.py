"""What a deployment returns: where the bundle is, its manifest, the smoke test, and what
the running router said."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class DeployResult(BaseModel):
    """One registered version deployed as a serving bundle."""

    path: str
    manifest: dict[str, Any] = Field(default_factory=dict)
    smoke_test: dict[str, Any] = Field(default_factory=dict)
    router: dict[str, Any] = Field(
        default_factory=dict, description="what the running router said when told to reload"
    )
