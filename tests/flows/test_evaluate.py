"""The `evaluate` flow on a real (test) Prefect API: it evaluates each cluster's newest
train run (a real PEFT adapter on the tiny base), logs the metrics into that run, keeps the
result for promotion, and publishes an `evaluation` artifact without call content."""

from __future__ import annotations

import pytest
from testkit.tiny_adapters import SLUG, log_train_run, store_cluster


@pytest.mark.slow
def test_the_evaluate_flow_evaluates_the_newest_adapter_and_keeps_the_result(
    prefect_api, settings, mlflow_uri, monkeypatch, tiny_base, tiny_adapters, airline
):
    from mlflow import MlflowClient
    from prefect.artifacts import Artifact

    from slimline.flows.evaluate import evaluate
    from slimline.store import open_work
    from slimline.tasks.evaluate.stage import load_evaluation

    for key, value in {"MAX_EXAMPLES": "3", "MAX_NEW_TOKENS": "6", "BATCH_SIZE": "3"}.items():
        monkeypatch.setenv(f"SLIMLINE_EVALUATE__{key}", value)
    monkeypatch.setenv("SLIMLINE_TRAIN__MAX_SEQ_LEN", "512")
    store_cluster(open_work(settings), airline)
    run_id = log_train_run(settings, tiny_adapters["a"], base=tiny_base)

    result = evaluate(home=str(settings.home))

    (report,) = result.clusters
    assert report.evaluated and report.run_id == run_id and report.n_examples == 3
    assert {"base", "challenger"} <= set(report.metrics)
    logged = MlflowClient(mlflow_uri).get_run(run_id).data.metrics
    assert logged["challenger.n_examples"] == 3
    assert load_evaluation(open_work(settings)) == result  # what `slimline promote` reads
    markdown = Artifact.get("evaluation").data
    assert SLUG in markdown and "challenger name+args" in markdown
    assert airline[0].messages[-1].text()[:30] not in markdown
