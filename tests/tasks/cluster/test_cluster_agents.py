"""Two agents are never one cluster: the bundled airline calls and a copy whose system prompt
names another desk (same agent name, same tools, same turns, near-identical policy) end up
in different clusters, in two fresh homes that receive the calls in different orders, and
their cluster ids stay put across a second night. Real BERTopic and the real embedding
model, as a user runs them; the calls go straight into the work store (scrub is not what
this tests).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

POLICY = "# Airline Agent Policy"
OTHER_POLICY = "# SkyHigh Air Support Desk Policy"


def _second_desk(record):
    """The call as another team's airline agent makes it: only the policy heading differs."""
    system, *rest = record.messages
    assert POLICY in system.text()
    changed = system.model_copy(update={"content": system.text().replace(POLICY, OTHER_POLICY)})
    return record.model_copy(
        update={
            "id": "desk2-" + record.id,
            "conversation_id": "desk2-" + record.conversation_id,
            "messages": [changed, *rest],
            "timestamp": record.timestamp + timedelta(seconds=1),
        }
    )


def _nights(settings, records, encoder):
    """Two nights in a fresh home: the earlier half of `records` by time, then the rest."""
    from slimline.store import WorkStore
    from slimline.tasks.cluster.embed import Embedder
    from slimline.tasks.cluster.stage import run_cluster

    settings.home.mkdir(parents=True, exist_ok=True)
    work = WorkStore(settings.work_store_url)
    ordered = sorted(records, key=lambda r: r.timestamp)
    cut = ordered[len(ordered) // 2].timestamp
    first = [r for r in records if r.timestamp < cut]  # the home's own arrival order
    second = [r for r in records if r.timestamp >= cut]
    work.add_scrubbed([(n, r) for n, r in enumerate(first, 1)])
    embedder = Embedder(settings.cluster, work, encoder)
    one = run_cluster(settings, work, track=False, embedder=embedder)
    night_one, rows_one = work.assignments(), {r["cluster_id"]: r for r in work.clusters()}
    work.add_scrubbed([(len(first) + n, r) for n, r in enumerate(second, 1)])
    two = run_cluster(settings, work, track=False, embedder=embedder)
    night_two, rows_two = work.assignments(), {r["cluster_id"]: r for r in work.clusters()}
    work.close()
    return one, two, night_one, night_two, rows_one, rows_two


@pytest.mark.slow
def test_two_airline_agents_are_never_one_cluster(tmp_path, settings, tau2_records, encoder):
    from slimline.config import load_settings
    from slimline.store.schema import UNCLUSTERED

    airline = [r for r in tau2_records if r.agent == "tau2-airline"]
    desk2 = [_second_desk(r) for r in airline]
    homes = {
        "a": (settings, airline + desk2),
        "b": (load_settings(home=tmp_path / "home-b"), desk2 + airline),  # copies arrive first
    }
    for name, (home, records) in homes.items():
        one, two, night_one, night_two, rows_one, rows_two = _nights(home, records, encoder)
        ours = {night_two[r.id] for r in airline} - {UNCLUSTERED}
        theirs = {night_two[r.id] for r in desk2} - {UNCLUSTERED}
        clustered = [night_two[r.id] != UNCLUSTERED for r in airline + desk2]
        print(
            f"\nhome {name}: night one {one.total_clusters} clusters, night two "
            f"{two.new_clusters} new, {two.assigned} assigned; desk 1 in {sorted(ours)}, "
            f"desk 2 in {sorted(theirs)}, {sum(clustered) / len(clustered):.1%} clustered"
        )
        assert ours and theirs and not ours & theirs  # never in one cluster
        assert sum(clustered) / len(clustered) >= 0.8
        identities = {rows_two[c]["stats"]["identity"] for c in ours | theirs}
        assert len(identities) == 2
        # stable across nights: night one's calls keep their cluster, clusters their names
        assert all(night_two[c] == cid for c, cid in night_one.items())
        for cid, row in rows_one.items():
            assert {k: rows_two[cid][k] for k in ("slug", "label")} == {
                k: row[k] for k in ("slug", "label")
            }
        # each cluster lists its tasks: what the teacher did, counted
        for cid in ours | theirs:
            tasks = rows_two[cid]["stats"]["tasks"]
            assert sum(t["calls"] for t in tasks) == rows_two[cid]["stats"]["calls"]
            assert any(t["task"].startswith("call:") for t in tasks)
