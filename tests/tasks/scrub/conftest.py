"""Scrub's shared fixtures: one Presidio analyzer per session, and real tau2 calls."""

from __future__ import annotations

import gzip
import json

import pytest
from scrub_samples import conversations

from slimline.record import CallRecord


@pytest.fixture(scope="session")
def scrub_config():
    from slimline.tasks.scrub.config import ScrubConfig

    return ScrubConfig(workers=1)


@pytest.fixture(scope="session")
def analyzer(scrub_config):
    """This process's analyzer for the default config (every in-process scrub reuses it)."""
    from slimline.tasks.scrub.engine import local_analyzer

    return local_analyzer(scrub_config)


@pytest.fixture(scope="session")
def tau2_lines(tau2_path) -> list[dict]:
    with gzip.open(tau2_path, "rt") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def tau2_calls(tau2_lines) -> list[CallRecord]:
    """All calls of the first conversation of each agent (4 conversations)."""
    return conversations(tau2_lines, per_agent=1)
