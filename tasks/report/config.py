"""The report's settings: the cost model of the savings estimate."""

from pydantic import BaseModel, Field


class ReportConfig(BaseModel):
    """How the report values what the champions serve."""

    slm_price_per_mtok: float = Field(
        default=0.02, description="what the SLM costs per million tokens, for the savings estimate"
    )
