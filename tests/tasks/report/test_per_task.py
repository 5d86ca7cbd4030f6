"""The report lists the tasks inside each cluster, and what the champion serves of each: read
from the per-call answers evaluation logged in the champion's own run."""

import pytest
from testkit.tiny_adapters import store_cluster

from slimline.store import open_work
from slimline.tasks.cluster.actions import task_of_record, task_table
from slimline.tasks.cluster.signature import facts, signature
from slimline.tasks.promote import registry
from slimline.tasks.report.markdown import report_markdown
from slimline.tasks.report.summary import served_summary
from slimline.tracking import mlflow_experiment


def test_served_share_and_agreement_per_task(settings, mlflow_uri, airline):
    import mlflow

    members = [facts(r, signature(r, 600, 240)) for r in airline]
    tasks = task_table(members)
    assert sum(t["calls"] for t in tasks) == len(airline)
    work = open_work(settings)
    store_cluster(work, airline, cluster_id=1, slug="airline", stats={
        "calls": len(airline), "share_calls": 1.0, "tasks": tasks})  # fmt: skip

    # what evaluation logs per test call: a tool-call answer is confident, a text one is not;
    # every other confident answer agrees with the teacher
    test = airline[::2]
    rows = [
        {"call_id": r.id, "servable": True, "confidence": 0.9 if r.is_tool_call else 0.2,
         "agrees": n % 2 == 0}
        for n, r in enumerate(test)
    ]  # fmt: skip
    mlflow_experiment(settings)
    with mlflow.start_run() as run:
        mlflow.log_dict({"examples": rows}, "evaluation/challenger.json")
    client = registry.client_for(mlflow_uri)
    registry.ensure_model(client, "airline", 1)
    tags = {"slimline.coverage": "0.5", "slimline.served_agreement": "0.5",
            "slimline.threshold": "0.6"}  # fmt: skip
    version = registry.register_candidate(
        client, "airline", run.info.run_id, f"runs:/{run.info.run_id}/adapter", tags
    )
    registry.make_champion(client, "airline", version)

    summary = served_summary(settings, work)
    (cluster,) = summary["clusters"]
    by_task = {t["task"]: t for t in cluster["tasks"]}
    assert [t["task"] for t in cluster["tasks"]] == [t["task"] for t in tasks]
    for task, row in by_task.items():
        tested = [r for r in test if task_of_record(r) == task]
        assert row["test_calls"] == len(tested)
        if not tested:
            assert row["served_share"] is None
        elif task.startswith("call:"):
            served = [n for n, r in enumerate(test) if task_of_record(r) == task]
            assert row["served_share"] == 1.0
            assert row["served_agreement"] == pytest.approx(
                sum(n % 2 == 0 for n in served) / len(served)
            )
        else:
            assert row["served_share"] == 0.0 and row["served_agreement"] is None
    assert any(t.startswith("call:") for t in by_task) and any(
        t.startswith("text:") for t in by_task
    )

    text = report_markdown(summary, {}, [])
    assert "## Tasks inside each cluster" in text
    assert "| answer the user in text |" in text
    assert "**airline** (" in text and "100%" in text
