"""What collect returns: counts per source and in total. Counts only, never any content."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field


class SourceCounts(BaseModel):
    """What one source gave in one run. Counts only: never any record content."""

    source: str
    files: int = Field(default=0, description="files the source named")
    unchanged: int = Field(default=0, description="files with nothing new since the last run")
    lines: int = Field(default=0, description="lines read in this run")
    new: int = Field(default=0, description="calls stored for the first time")
    duplicates: int = Field(default=0, description="calls that were already stored")
    quarantined: int = Field(default=0, description="lines or spans set aside, with a reason")
    skipped: int = Field(default=0, description="spans that are not LLM calls")
    pending: int = Field(default=0, description="unfinished last lines left for the next run")
    outside_window: int = Field(default=0, description="calls outside a backfill's window")
    error: str | None = Field(default=None, description="why the source could not be read")


class CollectResult(BaseModel):
    """Counts per source and in total for one collect run."""

    sources: list[SourceCounts] = Field(default_factory=list)

    @computed_field
    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @computed_field
    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.sources)

    @computed_field
    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.sources)

    @computed_field
    @property
    def errors(self) -> int:
        return sum(1 for s in self.sources if s.error)
