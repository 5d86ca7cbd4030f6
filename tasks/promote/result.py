"""What promotion returns: a `Promotion` per evaluated cluster inside a `PromoteResult`."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field


class Promotion(BaseModel):
    """What happened to one cluster's challenger."""

    cluster_id: int
    slug: str
    model: str
    version: int | None = None
    promoted: bool = False
    reasons: list[str] = Field(default_factory=list)
    previous_champion: int | None = None
    champion: int | None = None  # the champion after this step
    event_id: str | None = None


class PromoteResult(BaseModel):
    """Every cluster's promotion, in order."""

    promotions: list[Promotion] = Field(default_factory=list)

    @property
    def promoted(self) -> list[Promotion]:
        return [p for p in self.promotions if p.promoted]

    @computed_field
    @property
    def candidates(self) -> int:
        return len(self.promotions)

    @computed_field
    @property
    def promoted_count(self) -> int:
        return len(self.promoted)
