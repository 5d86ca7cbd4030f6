"""Cluster fixtures, built once per session and chained (tests/support/testkit/tau2_store.py):
records -> encoder -> a work store with all 1,908 tau2 calls and their embeddings cached,
copied into each test's SLIMLINE_HOME."""

from __future__ import annotations

import shutil

import pytest
from testkit import tau2_store


@pytest.fixture(scope="session")
def tau2_records(tau2_path):
    return tau2_store.tau2_records(tau2_path)


@pytest.fixture(scope="session")
def encoder():
    return tau2_store.encoder()


@pytest.fixture
def tau2_work(settings, tau2_path):
    """This test's work store: the template copied to $SLIMLINE_HOME/work.db."""
    from slimline.store import WorkStore

    shutil.copy(tau2_store.work_template(tau2_path), settings.path("work.db"))
    work = WorkStore(settings.work_store_url)
    yield work
    work.close()


@pytest.fixture
def embedder(settings, tau2_work, encoder):
    from slimline.tasks.cluster.embed import Embedder

    return Embedder(settings.cluster, tau2_work, encoder)
