"""End to end: `slimline evaluate` replays held-out calls through a tiny base model, its
adapter (challenger) and the registry's champion, calibrates the challenger's threshold on
the calibration calls only, measures what it serves on the test calls, and logs it all to
MLflow."""

import json
from pathlib import Path

import pytest
from testkit.tiny_adapters import CLUSTER_ID, SLUG, log_train_run, store_cluster
from typer.testing import CliRunner

from slimline.cli import app
from slimline.store import open_work
from slimline.tasks.evaluate.cluster import heldout_sample
from slimline.tasks.promote import registry

METRICS = ("response_type_accuracy", "name_accuracy", "name_args_accuracy", "arg_f1")


def test_heldout_sample_is_fixed_and_bounded(airline):
    first = heldout_sample(airline, 5, seed=0)
    assert [r.id for r in first] == [r.id for r in heldout_sample(list(reversed(airline)), 5, 0)]
    assert len(first) == 5 and len(heldout_sample(airline[:3], 5, 0)) == 3


@pytest.mark.slow
def test_evaluate_logs_base_challenger_and_champion(
    settings, mlflow_uri, monkeypatch, tiny_base, tiny_adapters, airline, fake_judge
):
    for key, value in {
        "EVALUATE__MAX_EXAMPLES": "4",
        "EVALUATE__MAX_NEW_TOKENS": "8",
        "EVALUATE__BATCH_SIZE": "4",
        "EVALUATE__MAX_CALIBRATION": "6",
        "EVALUATE__JUDGE_URL": fake_judge,
        "TRAIN__MAX_SEQ_LEN": "512",
        "TRAIN__EVAL_FRACTION": "0.4",
        # the random adapters write text: let text answers be served (any judge grade agrees
        # with a text answer) so that the calibration has something to calibrate
        "PROMOTE__TEXT_TARGET": "0.0",
        "PROMOTE__TARGET_AGREEMENT": "0.3",
        "PROMOTE__MIN_CALIBRATION_SERVED": "1",
    }.items():
        monkeypatch.setenv(f"SLIMLINE_{key}", value)
    work = open_work(settings)
    store_cluster(work, airline)
    # yesterday's adapter is the champion; tonight's is the challenger
    old_run = log_train_run(settings, tiny_adapters["b"], base=tiny_base)
    client = registry.client_for(mlflow_uri)
    registry.ensure_model(client, SLUG, CLUSTER_ID)
    v1 = registry.register_candidate(client, SLUG, old_run, f"runs:/{old_run}/adapter", {})
    registry.make_champion(client, SLUG, v1)
    new_run = log_train_run(settings, tiny_adapters["a"], base=tiny_base)

    result = CliRunner().invoke(app, ["--home", str(settings.home), "evaluate", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["evaluated"] == 1
    report = out["clusters"][0]
    assert report["run_id"] == new_run and report["champion_version"] == v1
    assert report["n_examples"] == 4 and report["base_model"] == tiny_base
    assert set(report["metrics"]) == {"base", "challenger", "champion"}

    logged = client.get_run(new_run).data.metrics
    for role in ("base", "challenger", "champion"):
        for name in (*METRICS, "latency_ms", "tokens_per_s", "n_examples", "judge_score"):
            assert f"{role}.{name}" in logged, f"{role}.{name} not logged"
        assert 0.0 <= logged[f"{role}.response_type_accuracy"] <= 1.0
        assert logged[f"{role}.n_examples"] == 4
        assert logged[f"{role}.judge_score"] == 0.0  # the fake judge grades 1 of 5
    assert logged["challenger.tokens_per_s"] > 0
    challenger, champion = (
        json.loads(Path(client.download_artifacts(new_run, f"evaluation/{role}.json")).read_text())
        for role in ("challenger", "champion")
    )
    assert len(challenger["examples"]) == 4
    # the two adapters differ, so their answers do
    assert [e["output"] for e in champion["examples"]] != [
        e["output"] for e in challenger["examples"]
    ]

    # the threshold comes from the calibration calls alone, and is measured on the test calls
    from slimline.cascade import Scored, calibrate, serve_at
    from slimline.split import split_three

    calibration = json.loads(
        Path(client.download_artifacts(new_run, "evaluation/calibration.json")).read_text()
    )["examples"]
    _, cal_split, test_split = split_three(airline, 0.4, 0.5)
    assert {e["call_id"] for e in calibration} <= {r.id for r in cal_split}
    assert {e["call_id"] for e in challenger["examples"]} <= {r.id for r in test_split}
    assert len(calibration) == report["n_calibration"] == min(6, len(cal_split))

    def scored(rows):
        return [Scored(e["confidence"], e["servable"], e["agrees"]) for e in rows]

    # every signal is logged beside the one the gate used, so they can be compared afterwards
    from benchmarks.signals import compare
    from slimline.decoding.confidence import SIGNALS

    for row in calibration + challenger["examples"]:
        assert set(row["signals"]) == set(SIGNALS)
        assert row["signals"]["min_prob"] == row["confidence"]  # the default signal
    figures = compare(calibration, challenger["examples"], 0.3, 1, "point")
    assert figures["min_prob"]["threshold"] == calibrate(scored(calibration), 0.3, 1).value

    again = calibrate(scored(calibration), 0.3, 1)
    assert report["threshold"] == again.value
    assert report["calibration"]["served"] == again.served > 0
    served = serve_at(scored(challenger["examples"]), report["threshold"])
    assert report["cascade"]["challenger"]["coverage"] == served.coverage
    assert logged["challenger.coverage"] == served.coverage
    assert logged["challenger.threshold"] == report["threshold"]
    assert client.download_artifacts(new_run, "evaluation/cascade.png")
    rows = json.loads(
        Path(client.download_artifacts(new_run, "evaluation/confusion.json")).read_text()
    )["rows"]
    assert sum(r["calls"] for r in rows) == 4  # every test call, teacher action vs adapter

    # the gate keeps the challenger out and says why (4 test calls); the champion stays
    result = CliRunner().invoke(app, ["--home", str(settings.home), "promote", "--json"])
    assert result.exit_code == 0, result.output
    promoted = json.loads(result.stdout)["clusters"][0]
    assert not promoted["promoted"] and promoted["champion"] == v1
    assert "the test split has 4 calls, fewer than the 10 required" in promoted["reasons"]
