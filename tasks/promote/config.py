"""The promotion gate's thresholds and the cost model of the report."""

from pydantic import BaseModel, Field


class PromoteConfig(BaseModel):
    """When a challenger becomes champion."""

    min_name_args_accuracy: float = Field(default=0.9, description="name+arguments exact match")
    min_valid_tool_call_rate: float = Field(default=0.98, description="parseable tool calls")
    min_heldout: int = Field(default=10, description="smallest held-out set that can pass")
    tolerance: float = Field(default=0.01, description="allowed drop against the champion")
    slm_price_per_mtok: float = Field(
        default=0.02, description="what the SLM costs per million tokens, for the savings estimate"
    )
