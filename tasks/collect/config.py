"""Collect's settings."""

from pydantic import BaseModel, Field


class CollectConfig(BaseModel):
    """Where calls come from and how much of a line is too much."""

    sources: list[str] = Field(
        default_factory=list,
        description="files, directories or globs (.jsonl, .jsonl.gz) read by `slimline collect`",
    )
    max_line_bytes: int = Field(
        default=8_000_000, description="a line longer than this is quarantined, not parsed"
    )
    batch_size: int = Field(default=500, description="records written per transaction")
    proxy_host: str = Field(default="127.0.0.1", description="where `slimline proxy` listens")
    proxy_port: int = Field(default=8787, description="port of `slimline proxy`")
    proxy_queue_size: int = Field(
        default=10_000, description="calls the proxy holds while the store is slow or down"
    )
