"""Clustering the 1,908 real tau2 calls, the way a user does it: `slimline cluster`.

The clusters must follow the agents (NMI >= 0.9, outliers counted as one more label), each
cluster must carry a readable label, a valid slug and its stats, and the run must land in
MLflow with the table, the bar chart and the saved model.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from typer.testing import CliRunner

STATS = {
    "calls",
    "share_calls",
    "share_cost",
    "share_tool_calls",
    "median_prompt_tokens",
    "median_response_tokens",
    "agents",
}


@pytest.mark.slow
def test_tau2_clusters_follow_the_agents(settings, tau2_work, tau2_records, mlflow_uri):
    from mlflow import MlflowClient
    from sklearn.metrics import normalized_mutual_info_score

    from slimline.cli import app
    from slimline.store.schema import UNCLUSTERED
    from slimline.tasks.cluster.signature import tool_names

    home = str(settings.path())
    out = CliRunner().invoke(app, ["--home", home, "cluster", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)

    agent_of = {r.id: r.agent for r in tau2_records}
    assigned = tau2_work.assignments()
    assert set(assigned) == set(agent_of)  # every call has an answer, outliers included
    ids = sorted(assigned)
    nmi = normalized_mutual_info_score([agent_of[i] for i in ids], [assigned[i] for i in ids])
    clusters = result["clusters"]
    per_agent = Counter(Counter(c["stats"]["agents"]).most_common(1)[0][0] for c in clusters)
    print(
        f"\nNMI vs agent: {nmi:.3f}; {len(clusters)} clusters, {result['unclustered']} unclustered"
    )
    for c in clusters:
        print(f"  {c['cluster_id']:>2} {c['stats']['calls']:>4} {c['slug']:<40} {c['label']}")
    assert nmi >= 0.9
    assert result["unclustered"] < 0.1 * len(ids)
    assert set(per_agent) == {r.agent for r in tau2_records}  # every agent has its cluster(s)

    slugs = [c["slug"] for c in clusters]
    assert len(set(slugs)) == len(slugs)
    for c in clusters:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c["slug"]) and len(c["slug"]) <= 60
        assert " · " in c["label"] and c["keywords"]
        assert set(c["stats"]) >= STATS
        dominant, count = Counter(c["stats"]["agents"]).most_common(1)[0]
        assert count >= 0.95 * c["stats"]["calls"]  # a task does not mix agents
        assert c["label"].startswith(dominant)
    total_share = sum(c["stats"]["share_calls"] for c in clusters)
    assert total_share == pytest.approx(1 - result["unclustered"] / len(ids), abs=1e-3)

    # the store holds what the CLI said, and the clusters' members leave the outliers out
    rows = {r["cluster_id"]: r for r in tau2_work.clusters()}
    assert set(rows) == {c["cluster_id"] for c in clusters}
    members = tau2_work.members()
    assert UNCLUSTERED not in members
    assert sum(len(v) for v in members.values()) == len(ids) - result["unclustered"]

    listed = CliRunner().invoke(app, ["--home", home, "clusters", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [c["slug"] for c in json.loads(listed.stdout)["clusters"]] == slugs
    # the tasks inside each cluster: what the teacher did, labelled from tool names
    tools = {name for r in tau2_records for name in tool_names(r)}
    for c in json.loads(listed.stdout)["clusters"]:
        assert c["tasks"] and sum(t["calls"] for t in c["tasks"]) == c["calls"]
        assert sum(t["share"] for t in c["tasks"]) == pytest.approx(1.0, abs=1e-3)
        for t in c["tasks"]:
            kind, _, what = t["task"].partition(":")
            assert kind in ("call", "text", "other")
            if kind == "call":
                assert set(what.split("+")) <= tools
        print(f"  {c['slug']}: " + "; ".join(f"{t['label']} {t['calls']}" for t in c["tasks"]))
    human = CliRunner().invoke(app, ["--home", home, "clusters"])
    assert "tasks (calls, share of the cluster):" in human.stdout

    # MLflow: a run tagged slimline.stage=cluster with the table, the chart and the model
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(result["mlflow_run_id"])
    assert run.data.tags["slimline.stage"] == "cluster"
    assert run.data.metrics["clusters"] == len(clusters)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"clusters.json", "clusters.png", "cluster_model"} <= artifacts
    model_files = {a.path for a in client.list_artifacts(run.info.run_id, "cluster_model")}
    assert "cluster_model/topic_embeddings.safetensors" in model_files
