"""The `cluster` flow on a real (test) Prefect API: it clusters the scrubbed calls in the
home's work store and publishes the clusters as a table artifact (labels and figures, no
call content)."""

from __future__ import annotations

import json
import shutil

import pytest
from testkit import tau2_store


@pytest.mark.slow
def test_the_cluster_flow_clusters_and_publishes_a_table(
    prefect_api, settings, mlflow_uri, tau2_path
):
    from prefect.artifacts import Artifact
    from sqlalchemy import delete

    from slimline.flows.cluster import cluster
    from slimline.store import WorkStore
    from slimline.store import schema as s

    shutil.copy(tau2_store.work_template(tau2_path), settings.path("work.db"))
    work = WorkStore(settings.work_store_url)
    with work.engine.begin() as conn:  # two agents are enough to see the wiring
        conn.execute(
            delete(s.scrubbed_calls).where(
                s.scrubbed_calls.c.agent.notin_(["tau2-airline", "tau2-retail"])
            )
        )

    result = cluster(home=str(settings.home))

    assert result.calls == 682 and result.total_clusters >= 2 and result.mlflow_run_id
    assert {c.cluster_id for c in result.clusters} == {r["cluster_id"] for r in work.clusters()}
    artifact = Artifact.get("clusters")
    assert artifact is not None and artifact.type == "table"
    table = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    assert [(r["slug"], r["label"]) for r in table] == [(c.slug, c.label) for c in result.clusters]
    allowed = {"cluster_id", "slug", "label", "calls", "new", "median_prompt_tokens"}
    allowed |= {"median_response_tokens", "share_calls", "share_cost", "share_tool_calls"}
    allowed |= {"tasks"}  # the largest tasks inside: labels made of tool names, and shares
    assert all(set(r) <= allowed for r in table)  # figures and labels, no call content
    assert all(r["tasks"] and "%" in r["tasks"] for r in table)
