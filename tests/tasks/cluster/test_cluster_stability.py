"""Cluster ids are stable across nights.

Night one sees the first half of the tau2 calls (by time), night two all of them: the first
night's calls keep their ids, known clusters keep their id, slug and label, new clusters get
new ids, and the saved model (safetensors, v1) alone puts the first night's calls back in
their clusters. The first half holds only the retail and telecom-no-user agents, so the
airline and telecom agents must arrive on night two as new clusters.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete


@pytest.mark.slow
def test_ids_survive_a_second_night(settings, tau2_work, tau2_records, embedder):
    from slimline.store import schema as s
    from slimline.store.schema import UNCLUSTERED
    from slimline.tasks.cluster import model as topic_model
    from slimline.tasks.cluster.read import iter_calls
    from slimline.tasks.cluster.stage import STATE_KEY, run_cluster

    ordered = sorted(tau2_records, key=lambda r: (r.timestamp, r.id))
    first, second = ordered[: len(ordered) // 2], ordered[len(ordered) // 2 :]
    with tau2_work.engine.begin() as conn:  # night one has only the first half
        conn.execute(
            delete(s.scrubbed_calls).where(s.scrubbed_calls.c.id.in_([r.id for r in second]))
        )

    one = run_cluster(settings, tau2_work, track=False, embedder=embedder)
    night_one = tau2_work.assignments()
    rows_one = {r["cluster_id"]: r for r in tau2_work.clusters()}
    assert one.new_clusters >= 2 and one.model_version == 1 and one.fitted
    assert set(night_one) == {r.id for r in first}
    state_one = tau2_work.get_state(STATE_KEY)

    tau2_work.add_scrubbed([(len(first) + n, r) for n, r in enumerate(second, 1)])
    two = run_cluster(settings, tau2_work, track=False, embedder=embedder)
    night_two = tau2_work.assignments()

    clustered_one = [c for c, cid in night_one.items() if cid != UNCLUSTERED]
    kept = sum(night_two[c] == night_one[c] for c in clustered_one) / len(clustered_one)
    kept_all = sum(night_two[c] == night_one[c] for c in night_one) / len(night_one)
    new_assigned = sum(night_two[r.id] != UNCLUSTERED for r in second) / len(second)
    print(
        f"\nnight one: {one.total_clusters} clusters, {one.unclustered} unclustered; "
        f"night two: {two.new_clusters} new, {two.assigned} assigned, "
        f"{two.unclustered} unclustered; kept {kept:.1%} of night one's clustered calls "
        f"({kept_all:.1%} of all), {new_assigned:.1%} of the new calls joined a cluster"
    )
    assert kept >= 0.95 and kept_all >= 0.95
    assert new_assigned >= 0.8

    rows_two = {r["cluster_id"]: r for r in tau2_work.clusters()}
    for cid, row in rows_one.items():  # never renumbered, renamed or relabelled
        assert {k: rows_two[cid][k] for k in ("slug", "label", "keywords")} == {
            k: row[k] for k in ("slug", "label", "keywords")
        }
    assert all(cid > max(rows_one) for cid in set(rows_two) - set(rows_one))
    assert two.new_clusters == len(set(rows_two) - set(rows_one)) >= 2
    assert two.model_version == 2
    new_agents = {
        max(rows_two[c]["stats"]["agents"], key=rows_two[c]["stats"]["agents"].get)
        for c in set(rows_two) - set(rows_one)
    }
    assert {"tau2-airline", "tau2-telecom"} <= new_agents

    # the saved model alone (safetensors, embedding model handed back) reproduces night one
    v1 = topic_model.load(settings.path(*state_one["path"]), embedder.encoder)
    wanted = set(clustered_one)
    pairs = [(f, sig) for f, sig in iter_calls(tau2_work, settings.cluster, wanted.__contains__)]
    sigs = [sig for _, sig in pairs if sig is not None]
    facts = [f for f, sig in pairs if sig is not None]
    topics, _ = topic_model.assign(v1, [f.document for f in facts], embedder.signatures(sigs))
    mapping = {int(k): v for k, v in state_one["topics"].items()}
    again = np.array([mapping.get(int(t), UNCLUSTERED) for t in topics])
    fidelity = float(np.mean(again == np.array([night_one[f.call_id] for f in facts])))
    print(f"the saved v1 model puts {fidelity:.1%} of night one's clustered calls back")
    assert fidelity >= 0.95

    # a third night with nothing new: nothing fitted, no call moved, the unclustered ones
    # included (night two already offered them to its model), so nothing is retrained
    three = run_cluster(settings, tau2_work, track=False, embedder=embedder)
    assert not three.fitted and three.new_clusters == 0 and three.assigned == 0
    assert three.model_version == two.model_version
    assert tau2_work.assignments() == night_two
