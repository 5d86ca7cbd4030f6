"""Evaluate's settings."""

from pydantic import BaseModel, Field


class EvaluateConfig(BaseModel):
    """How held-out calls are replayed against base, challenger and champion."""

    max_examples: int = Field(default=64, description="held-out calls evaluated per cluster")
    max_new_tokens: int = Field(default=192, description="tokens generated per call")
    batch_size: int = Field(default=4, description="calls decoded together")
    judge_url: str | None = Field(
        default=None, description="OpenAI-compatible URL of an LLM judge; None: no judge"
    )
    judge_model: str = Field(default="gpt-4.1-mini", description="the judge's model name")
