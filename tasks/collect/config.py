"""Collect's settings (where calls come from, what is too much, the logging proxy) and the
`Window` of a backfilled night."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator


class CollectConfig(BaseModel):
    """Where calls come from and how much of a line is too much."""

    sources: list[str] = Field(
        default_factory=list,
        description="files, directories or globs (.jsonl, .jsonl.gz, .json) read by "
        "`slimline collect` when no --source is given",
    )
    file_patterns: list[str] = Field(
        default_factory=lambda: ["*.jsonl", "*.jsonl.gz", "*.json"],
        description="which files inside a source directory are read (searched recursively)",
    )
    max_line_bytes: int = Field(
        default=8_000_000,
        description="a line (or proxy/OTLP request body) longer than this is quarantined, "
        "not parsed",
    )
    quarantine_text_bytes: int = Field(
        default=65_536,
        description="how much of an over-long line is kept in the quarantine table (its file "
        "and byte offset are always recorded)",
    )
    batch_size: int = Field(
        default=500, description="records written per transaction (the watermark moves with each)"
    )
    default_agent: str = Field(
        default="unknown", description="agent name for records whose source names none"
    )
    proxy_upstream: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL the proxy forwards to (e.g. "
        "http://127.0.0.1:8000/v1); `slimline proxy --upstream` overrides it",
    )
    proxy_host: str = Field(default="127.0.0.1", description="where `slimline proxy` listens")
    proxy_port: int = Field(default=8787, description="port of `slimline proxy`")
    proxy_timeout_s: float = Field(
        default=600.0, description="seconds the proxy waits for the upstream's answer"
    )
    proxy_queue_size: int = Field(
        default=10_000, description="calls the proxy holds while the store is slow or down"
    )
    proxy_drain_s: float = Field(
        default=10.0,
        description="when the proxy stops, how long it keeps trying to write what is queued",
    )


class Window(BaseModel):
    """Call timestamps from `start` (included) to `end` (excluded), UTC; either end open."""

    start: datetime | None = None
    end: datetime | None = None

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"the window's end {self.end} is not after its start {self.start}")
        return self

    @classmethod
    def between(cls, start: datetime | None, end: datetime | None) -> Window | None:
        """The window a flow's `window_start` / `window_end` ask for; None when neither is
        given (an ordinary night)."""
        return cls(start=start, end=end) if start or end else None

    def __contains__(self, when: datetime) -> bool:
        when = self._utc(when)
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)

    def __str__(self) -> str:
        return f"[{self.start or '...'}, {self.end or '...'})"
