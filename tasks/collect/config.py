"""Collect's settings: where calls come from, what is too much, and the logging proxy."""

from pydantic import BaseModel, Field


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
