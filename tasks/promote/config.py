"""The promotion gate's settings: the cascade's target and what a challenger must serve."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PromoteConfig(BaseModel):
    """When a challenger becomes champion (tasks/promote/gate.py, docs/evaluate-and-promote.md).

    A champion serves the calls it is confident on and sends the rest to the LLM: its
    threshold is calibrated on the calibration split to reach `target_agreement`, and the
    gate judges what it then serves on the test split.
    """

    model_config = ConfigDict(extra="forbid")  # a removed key fails loudly, never silently

    target_agreement: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="share of served calls that must agree with the teacher (tool calls: name "
        "and arguments exact; text: `text_target`); the threshold is calibrated to it",
    )
    min_coverage: float = Field(
        default=0.05, ge=0, le=1, description="share of test calls a challenger must serve"
    )
    agreement_tolerance: float = Field(
        default=0.05,
        ge=0,
        description="how far the served test calls' agreement may fall below the target "
        "(the threshold was chosen on other calls)",
    )
    min_calibration_served: int = Field(
        default=5, ge=1, description="fewest calibration calls a threshold may rest on"
    )
    threshold_rule: Literal["point", "wilson"] = Field(
        default="point",
        description="point: the served calibration calls' agreement reaches the target; "
        "wilson: its one-sided 95% Wilson lower bound does (stricter on small samples)",
    )
    text_target: float | None = Field(
        default=None,
        description="a text answer agrees when its similarity to the teacher's (or the LLM "
        "judge's grade, when evaluate.judge_url is set) reaches this; None: text answers "
        "are never served",
    )
    min_heldout: int = Field(default=10, description="smallest test split that can pass")
    tolerance: float = Field(
        default=0.01, description="how much less than the champion a challenger may serve"
    )
    emit_events: bool = Field(
        default=True, description="emit the Prefect event slimline.adapter.promoted on promotion"
    )
