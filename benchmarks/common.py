"""Helpers the benchmarks share: where the bundled data is, and timing."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TAU2 = REPO.parent / "shared" / "data" / "tau2" / "calls.jsonl.gz"


def tau2_lines() -> list[str]:
    with gzip.open(TAU2, "rt") as f:
        return f.read().splitlines()


def tau2_objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in tau2_lines()]


@contextmanager
def timed(into: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - start, 3)


def best_of(n: int, fn: Callable[[], Any]) -> float:
    """The fastest of n runs of fn, in seconds."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
