"""The `promote` flow on a real (test) Prefect API: the gate over the last evaluation moves
the registry's aliases, and the flow publishes the decisions and what the champions now
serve (report), as artifacts and in MLflow."""

from __future__ import annotations

import pytest
from testkit.tiny_adapters import CLUSTER_ID, GOOD, SERVES, SLUG, log_train_run, store_cluster


@pytest.mark.slow
def test_the_promote_flow_gates_the_last_evaluation_and_reports_what_serves(
    prefect_api, settings, mlflow_uri, tiny_base, tiny_adapters, airline
):
    from mlflow import MlflowClient
    from prefect.artifacts import Artifact

    from slimline.flows.promote import promote
    from slimline.store import open_work
    from slimline.tasks.evaluate.result import EvalReport, EvaluateResult
    from slimline.tasks.evaluate.stage import save_evaluation

    settings.promote.emit_events = False
    work = open_work(settings)
    store_cluster(work, airline)
    good, poor = (log_train_run(settings, tiny_adapters["a"], base=tiny_base) for _ in range(2))
    reports = [
        EvalReport(cluster_id=CLUSTER_ID, slug=SLUG, run_id=good, base_model=tiny_base,
                   n_examples=30, metrics={"challenger": GOOD}, threshold=0.5,
                   cascade={"challenger": SERVES}),
        EvalReport(cluster_id=8, slug="other-cluster", run_id=poor, base_model=tiny_base,
                   n_examples=30, metrics={"challenger": GOOD}, threshold=0.9,
                   cascade={"challenger": {**SERVES, "coverage": 0.01, "served": 1.0}}),
    ]  # fmt: skip
    save_evaluation(work, EvaluateResult(clusters=reports))

    result = promote(home=str(settings.home), config=None)

    by_model = {p.model: p for p in result.promotions}
    assert by_model[SLUG].promoted and by_model[SLUG].champion == 1
    assert not by_model["other-cluster"].promoted and by_model["other-cluster"].champion is None
    assert any("below promote.min_coverage" in r for r in by_model["other-cluster"].reasons)
    client = MlflowClient(mlflow_uri)
    assert int(client.get_model_version_by_alias(SLUG, "champion").version) == 1

    decisions = Artifact.get("promotion").data
    assert f"{SLUG} v1: PROMOTED" in decisions and "other-cluster v1: not promoted" in decisions
    report = Artifact.get("slimline-report")
    assert "30.0% of calls" in report.description  # its one cluster, at the champion's coverage
    runs = client.search_runs(
        [client.get_experiment_by_name("slimline").experiment_id],
        filter_string="tags.`slimline.stage` = 'report'",
    )
    assert runs and runs[0].data.metrics["served.served_share_calls"] == pytest.approx(0.3)
