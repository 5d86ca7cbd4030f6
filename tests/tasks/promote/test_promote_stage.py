"""Promotion on a real MLflow store: every candidate a version with its tags, `challenger`
on each, `champion` only past the gate, and `slimline rollback` moving it back."""

import json

import pytest
from testkit.tiny_adapters import CLUSTER_ID, GOOD, SLUG, log_train_run
from typer.testing import CliRunner

from slimline.cli import app
from slimline.tasks.evaluate.result import EvalReport, EvaluateResult
from slimline.tasks.promote import registry
from slimline.tasks.promote.stage import run_promote
from slimline.tracking import registry_counts


def cascade(coverage, agreement=0.95, served=None):
    return {"coverage": coverage, "served_agreement": agreement, "served": served or 10}


def report(run_id, challenger, champion=None, champion_version=None, threshold=0.6):
    """A challenger serving `challenger`'s coverage, measured beside the champion's."""
    metrics = {"base": {**GOOD, "name_args_accuracy": 0.1}, "challenger": GOOD}
    cascades = {"challenger": cascade(challenger)}
    if champion is not None:
        metrics["champion"] = GOOD
        cascades["champion"] = cascade(champion)
    return EvalReport(
        cluster_id=CLUSTER_ID,
        slug=SLUG,
        run_id=run_id,
        adapter_uri=f"runs:/{run_id}/adapter",
        base_model="/models/tiny",
        n_examples=30,
        metrics=metrics,
        threshold=threshold,
        cascade=cascades,
        confidence_signal="min_prob",
        champion_version=champion_version,
        context_hash="c0ffee",
        dataset_digest="d1gest",
        data_window=("2026-11-01T00:00:00+00:00", "2026-11-22T00:00:00+00:00"),
        nightly_run_id="nightly-1",
    )


def aliases(client):
    return {k: str(v) for k, v in client.get_registered_model(SLUG).aliases.items()}


@pytest.fixture
def runs(settings, mlflow_uri, tiny_adapters):
    settings.promote.emit_events = False
    return [log_train_run(settings, tiny_adapters["a"]) for _ in range(3)]


def test_gate_moves_aliases_and_rollback_moves_them_back(settings, mlflow_uri, runs):
    client = registry.client_for(mlflow_uri)

    first = run_promote(settings, EvaluateResult(clusters=[report(runs[0], 0.25)])).promotions[0]
    assert first.promoted and first.version == 1 and first.champion == 1
    assert aliases(client) == {"challenger": "1", "champion": "1"}
    assert client.get_registered_model(SLUG).tags["slimline.cluster_id"] == str(CLUSTER_ID)
    v1 = client.get_model_version(SLUG, "1")
    assert (v1.tags["slimline.threshold"], v1.tags["slimline.coverage"]) == ("0.6", "0.25")
    assert (
        v1.description == "promoted: serves 25% of 30 test calls at 0.95 agreement; threshold 0.600"
    )

    # serves less than the champion on the same calls (though above min_coverage): kept out
    second = run_promote(
        settings, EvaluateResult(clusters=[report(runs[1], 0.20, 0.25, 1)])
    ).promotions[0]
    assert not second.promoted and second.version == 2 and second.champion == 1
    assert "serves 20.0%, less than the champion's 25.0% (tolerance 1.0%)" in second.reasons
    assert aliases(client) == {"challenger": "2", "champion": "1"}
    v2 = client.get_model_version(SLUG, "2")
    assert v2.tags["slimline.gate.promote"] == "false"
    assert "less than the champion's 25.0%" in v2.tags["slimline.gate.reasons"]
    assert v2.description.startswith("kept out: serves 20%")
    assert client.get_run(runs[1]).data.tags["slimline.gate.promote"] == "false"

    third = run_promote(
        settings, EvaluateResult(clusters=[report(runs[2], 0.30, 0.25, 1)])
    ).promotions[0]
    assert third.promoted and third.previous_champion == 1 and third.champion == 3
    assert aliases(client) == {"challenger": "3", "champion": "3", "previous-champion": "1"}
    v3 = client.get_model_version(SLUG, "3")
    assert v3.source == f"runs:/{runs[2]}/adapter" and v3.run_id == runs[2]
    assert v3.tags["slimline.metric.name_args_accuracy"] == "0.95"
    assert v3.tags["slimline.coverage"] == "0.3"
    assert v3.tags["slimline.base_model"] == "/models/tiny"
    assert v3.tags["slimline.dataset_digest"] == "d1gest"
    assert v3.tags["slimline.context_hash"] == "c0ffee"
    assert v3.tags["slimline.nightly_run_id"] == "nightly-1"
    assert v3.tags["slimline.data_window"].startswith("2026-11-01")
    assert registry_counts(settings) == (1, 1)

    # the same adapter evaluated again: its version is reused, nothing moves
    again = run_promote(
        settings, EvaluateResult(clusters=[report(runs[2], 0.30, 0.30, 3)])
    ).promotions[0]
    assert again.version == 3 and not again.promoted
    assert again.reasons[-1] == "v3 is already the champion"
    assert len(client.search_model_versions(f"name='{SLUG}'")) == 3

    runner = CliRunner()
    home = ["--home", str(settings.home)]
    env = {"SLIMLINE_PROMOTE__EMIT_EVENTS": "false"}
    result = runner.invoke(app, [*home, "rollback", SLUG, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["champion"] == 1
    assert aliases(client) == {"challenger": "3", "champion": "1"}
    assert client.get_model_version(SLUG, "3").tags["slimline.rolled_back"] == "true"

    result = runner.invoke(app, [*home, "rollback", str(CLUSTER_ID)], env=env)
    assert result.exit_code == 2 and "no previous champion" in result.output


def test_a_first_challenger_that_serves_too_little_gets_no_champion(settings, mlflow_uri, runs):
    result = run_promote(settings, EvaluateResult(clusters=[report(runs[0], 0.02)]))
    p = result.promotions[0]
    assert not p.promoted and p.champion is None
    assert "serves 2.0% of 30 test calls (10), below promote.min_coverage 5.0%" in p.reasons
    assert aliases(registry.client_for(mlflow_uri)) == {"challenger": "1"}
    assert result.model_dump()["promoted_count"] == 0
    assert registry_counts(settings) == (1, 0)


def test_skipped_clusters_are_not_registered(settings, mlflow_uri):
    skipped = EvalReport(cluster_id=7, slug="x", status="skipped", reason="no held-out calls")
    p = run_promote(settings, EvaluateResult(clusters=[skipped])).promotions[0]
    assert not p.promoted and p.version is None and "no held-out calls" in p.reasons[0]
    assert registry_counts(settings) == (0, 0)
