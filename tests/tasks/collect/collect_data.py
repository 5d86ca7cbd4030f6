"""Test data for the collect tests, made from the bundled tau2 lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def with_timestamp(line: str, n: int) -> str:
    """A tau2 line made a distinct call: same request and response, another time."""
    obj = json.loads(line)
    obj["timestamp"] = f"2026-01-01T00:00:00.{n:06d}"
    return json.dumps(obj)


def write_lines(path: Path, lines: list[str]) -> Path:
    """`lines` as a .jsonl (or, by name, .jsonl.gz) file."""
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path
