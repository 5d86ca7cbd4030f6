"""The bundled real calls go into the raw store and come back equal."""

import gzip
import json

import pytest

from slimline.store import RawStore
from slimline.tasks.collect.formats import from_chat_completion_pair


@pytest.mark.slow
def test_tau2_calls_round_trip(tmp_path, tau2_path):
    with gzip.open(tau2_path, "rt") as f:
        records = [
            from_chat_completion_pair(json.loads(line), "tau2", f"line {n}")
            for n, line in enumerate(f, 1)
        ]
    assert len(records) == 1908
    store = RawStore(f"sqlite:///{tmp_path / 'raw.db'}")
    for start in range(0, len(records), 500):
        store.add_calls(records[start : start + 500])
    assert store.count_calls() == 1908
    back = {rec.id: rec for _, rec in store.iter_calls()}
    assert all(back[r.id] == r for r in records)
    assert store.add_calls(records).new == 0
    # the conversation comes from the source's simulation_id
    assert len({r.conversation_id for r in records}) == 140
    store.close()
    assert (tmp_path / "raw.db").stat().st_size < tau2_path.stat().st_size * 2
