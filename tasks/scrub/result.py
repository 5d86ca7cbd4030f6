"""What one scrub run did: counts only, never a value from the data."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field


class ScrubResult(BaseModel):
    """What one scrub run did. Counts only: nothing here is a value from the data."""

    run_id: str
    scrubbed: int = 0
    strings: int = 0  # distinct strings looked at
    analysed: int = 0  # strings the analyzer ran on (the others came from the cache)
    from_cache: int = 0
    entities: dict[str, int] = Field(default_factory=dict)  # per entity type
    sources: dict[str, int] = Field(default_factory=dict)  # calls per collection source
    source_entities: dict[str, int] = Field(default_factory=dict)  # hits per source
    places: dict[str, int] = Field(default_factory=dict)  # hits per place in a call
    quarantined: int = 0  # calls set aside (work store's scrub_quarantine), with a reason
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)  # per kind of reason
    seconds: float = 0.0
    mlflow_run_id: str | None = None

    @computed_field
    @property
    def calls_per_s(self) -> float:
        return round(self.scrubbed / self.seconds, 2) if self.seconds else 0.0
