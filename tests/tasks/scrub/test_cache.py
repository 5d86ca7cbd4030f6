"""Scrub's cache rows in the raw store (SQLite and PostgreSQL): keyed by the config; known
values with their conversation; the constant contexts."""

import pytest

from slimline.store import RawStore
from slimline.tasks.scrub.cache import ScrubCache


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def raw(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'raw.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = RawStore(url)
    yield store
    store.close()


def test_spans_known_values_and_placeholders_round_trip(raw):
    key = raw.secret("scrub-surrogate-key")
    cache = ScrubCache(raw, key, "fp1")
    cache.put_spans({"call Mia at 555-123-2002": [(5, 8, "PERSON", 0.9)], "nothing": []})
    got = cache.get_spans(["call Mia at 555-123-2002", "nothing", "unseen"])
    assert got == {"call Mia at 555-123-2002": [(5, 8, "PERSON", 0.9)], "nothing": []}
    assert ScrubCache(raw, key, "fp2").get_spans(["nothing"]) == {}  # another config
    cache.add_known([("PERSON", "Mia", "conv-1"), ("EMAIL_ADDRESS", "mia@corp.example", None)])
    cache.add_known([("PERSON", "Mia", "conv-1"), ("PERSON", "Mia", "conv-2")])
    assert sorted(cache.known_values(), key=str) == [
        ("EMAIL_ADDRESS", "mia@corp.example", None),
        ("PERSON", "Mia", "conv-1"),
        ("PERSON", "Mia", "conv-2"),
    ]
    assert ScrubCache(raw, key, "fp2").known_values() == []
    cache.add_constant(["k1", "k2"])
    assert cache.constant_contexts(["k1", "k3"]) == {"k1"}
    cache.add_placeholders({"EMAIL:ab": 1, "EMAIL:cd": 2})
    assert ScrubCache(raw, key, "fp2").placeholders() == {"EMAIL:ab": 1, "EMAIL:cd": 2}
