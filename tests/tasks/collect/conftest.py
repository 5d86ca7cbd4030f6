"""Fixtures of the collect tests: the bundled tau2 lines, read once per session."""

from __future__ import annotations

import gzip

import pytest


@pytest.fixture(scope="session")
def tau2_lines(tau2_path) -> list[str]:
    with gzip.open(tau2_path, "rt") as f:
        return f.read().splitlines()


@pytest.fixture(scope="session")
def tau2_sample(tau2_lines) -> list[str]:
    """40 real lines: the first 20 and 20 from the middle (other agents)."""
    return tau2_lines[:20] + tau2_lines[1000:1020]
