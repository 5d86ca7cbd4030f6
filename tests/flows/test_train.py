"""The `train` flow on a real (test) Prefect API: it runs the train stage and publishes a
summary artifact of figures only (no call content)."""

from __future__ import annotations

import pytest
from testkit.tiny_train import store_clusters, tau2_records


@pytest.mark.slow
def test_the_train_flow_runs_the_stage_and_publishes_a_summary(
    prefect_api, settings, mlflow_uri, tau2_path
):
    from mlflow import MlflowClient
    from prefect.artifacts import Artifact

    from slimline.flows.train import train
    from slimline.store import open_work

    records = tau2_records(tau2_path, "tau2-airline", 1)[:3]
    store_clusters(open_work(settings), {7: ("airline-small", records)})

    result = train(home=str(settings.home))

    (entry,) = result.clusters
    assert (entry.cluster_id, entry.status) == (7, "skipped")
    assert "min_cluster_calls" in entry.reason
    parent = MlflowClient(mlflow_uri).get_run(result.parent_run_id)
    assert parent.data.tags["slimline.stage"] == "train"
    assert parent.data.metrics["clusters_skipped"] == 1

    markdown = Artifact.get("train-summary").data
    assert "airline-small" in markdown and "skipped" in markdown
    assert records[0].messages[-1].text()[:30] not in markdown
