"""Select's settings: which small model each cluster may be fine-tuned from."""

from pydantic import BaseModel, Field


class SelectConfig(BaseModel):
    """Which small model each cluster gets."""

    catalog: list[dict] = Field(
        default_factory=list,
        description="extra catalog entries (fields of tasks/select/catalog.yaml), added to the "
        "shipped catalog; an entry with a shipped id replaces it",
    )
    only: list[str] | None = Field(
        default=None, description="catalog ids that may be chosen; None: every entry"
    )
    licences: list[str] | None = Field(
        default=None, description="licence allow-list (case-insensitive); None allows every licence"
    )
    max_params_m: float | None = Field(default=None, description="memory budget in M parameters")
    race_top_k: int = Field(
        default=1, ge=1, description="candidates raced per cluster (1: no race)"
    )
