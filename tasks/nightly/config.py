"""The night's settings: when the nightly deployment runs, and what one night may do."""

from typing import Literal

from pydantic import BaseModel, Field


class ScheduleConfig(BaseModel):
    """When the nightly deployment runs."""

    cron: str = Field(default="0 2 * * *", description="cron of the nightly deployment")
    timezone: str = Field(default="UTC", description="timezone of the cron")


class NightlyConfig(BaseModel):
    """What one night may do."""

    max_clusters: int | None = Field(
        default=None,
        ge=0,
        description="train at most this many changed clusters a night, in `priority` order "
        "(None: every changed cluster); the rest wait for the next night",
    )
    priority: Literal["servable", "largest"] = Field(
        default="servable",
        description="which changed clusters go first under max_clusters: servable = most calls "
        "a small model could take over (the teacher answered with tool calls; all calls when "
        "promote.text_target is set), largest = most calls",
    )
