"""The promotion gate's thresholds."""

from pydantic import BaseModel, Field


class PromoteConfig(BaseModel):
    """When a challenger becomes champion."""

    min_name_args_accuracy: float = Field(default=0.9, description="name+arguments exact match")
    min_valid_tool_call_rate: float = Field(default=0.98, description="parseable tool calls")
    min_text_similarity: float | None = Field(
        default=None, description="text answers' similarity to the teacher; None: not gated"
    )
    min_response_type_accuracy: float | None = Field(
        default=None, description="tool call vs text chosen as the teacher did; None: not gated"
    )
    min_heldout: int = Field(default=10, description="smallest held-out set that can pass")
    tolerance: float = Field(default=0.01, description="allowed drop against the champion")
    emit_events: bool = Field(
        default=True, description="emit the Prefect event slimline.adapter.promoted on promotion"
    )
