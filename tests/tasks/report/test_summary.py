"""What the champions serve: a champion serves its coverage of its cluster's calls, so the
share of all calls served is the sum of cluster share x coverage; and the cost saved."""

import pytest
from testkit.tiny_adapters import store_cluster

from slimline.store import open_work
from slimline.tasks.promote import registry
from slimline.tasks.report.stage import run_report
from slimline.tasks.report.summary import served_summary, summary_markdown
from slimline.tracking import mlflow_experiment


def test_served_summary_counts_only_clusters_with_a_champion(settings, mlflow_uri, airline):
    import mlflow

    conversations = sorted({r.conversation_id for r in airline})
    first = set(conversations[:5])
    served = [r for r in airline if r.conversation_id in first]
    other = [r for r in airline if r.conversation_id not in first]
    work = open_work(settings)
    store_cluster(work, served, cluster_id=1, slug="airline-served")
    store_cluster(work, other, cluster_id=2, slug="airline-other")

    mlflow_experiment(settings)
    with mlflow.start_run() as run:
        pass
    client = registry.client_for(mlflow_uri)
    for slug, cid in (("airline-served", 1), ("airline-other", 2)):
        registry.ensure_model(client, slug, cid)
        tags = {
            "slimline.metric.name_args_accuracy": "0.93",
            "slimline.metric.text_similarity": "0.8",
            "slimline.coverage": "0.4",
            "slimline.served_agreement": "0.95",
            "slimline.threshold": "0.6",
        }
        version = registry.register_candidate(
            client, slug, run.info.run_id, f"runs:/{run.info.run_id}/adapter", tags
        )
        if slug == "airline-served":
            registry.make_champion(client, slug, version)

    summary = served_summary(settings, work)
    cost = sum(r.cost_usd for r in served)
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in served)
    share = len(served) / len(airline)
    assert summary["served_clusters"] == 1
    assert summary["served_calls"] == round(0.4 * len(served))
    # the headline share is the sum over clusters of share x coverage
    rows = {r["slug"]: r for r in summary["clusters"]}
    assert summary["served_share_calls"] == pytest.approx(
        sum(r["share_calls"] * r["coverage"] for r in summary["clusters"])
    )
    assert summary["served_share_calls"] == pytest.approx(share * 0.4)
    assert summary["teacher_cost_usd_served"] == pytest.approx(0.4 * cost)
    assert summary["slm_cost_usd_served"] == pytest.approx(0.4 * tokens / 1e6 * 0.02)
    assert summary["saved_usd"] == pytest.approx(0.4 * cost - 0.4 * tokens / 1e6 * 0.02)
    assert summary["teacher_cost_usd"] == pytest.approx(sum(r.cost_usd for r in airline))
    assert rows["airline-served"]["champion"] == 1 and rows["airline-served"]["coverage"] == 0.4
    assert rows["airline-served"]["name_args_accuracy"] == 0.93
    assert rows["airline-served"]["threshold"] == 0.6
    assert rows["airline-other"]["champion"] is None and "saved_usd" not in rows["airline-other"]
    assert rows["airline-other"]["served_share"] == 0.0

    text = summary_markdown(summary)
    assert "| airline-served |" in text and f"{share * 0.4:.1%}" in text

    run_id = run_report(settings, work=work).mlflow_run_id
    logged = client.get_run(run_id).data.metrics
    assert logged["served.served_share_calls"] == pytest.approx(summary["served_share_calls"])
    assert logged["served.saved_usd"] == pytest.approx(summary["saved_usd"])
