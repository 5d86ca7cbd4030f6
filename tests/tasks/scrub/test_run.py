"""The stage with its stores: incremental runs, the cache, MLflow, export and the CLI."""

from __future__ import annotations

import json

import pytest
from scrub_samples import conversations
from typer.testing import CliRunner

from slimline.record import CallRecord
from slimline.store import open_raw, open_work
from slimline.tasks.scrub.stage import run_scrub


@pytest.fixture(scope="module")
def calls(tau2_lines) -> list[CallRecord]:
    """Every call of one retail conversation (names, emails, zips, addresses, user ids)."""
    retail = [line for line in tau2_lines if line["agent"] == "tau2-retail"]
    return conversations(retail, per_agent=1)


def test_runs_are_incremental_cached_and_consistent(analyzer, settings, mlflow_uri, calls):
    import mlflow

    raw, work = open_raw(settings), open_work(settings)
    half = len(calls) // 2
    raw.add_calls(calls[:half])
    first = run_scrub(settings, raw, work)
    assert first.scrubbed == half == work.count_scrubbed()
    assert first.analysed > 0 and first.entities.get("PERSON", 0) > 0
    assert first.sources == {"tau2.jsonl": half}

    raw.add_calls(calls[half:])
    second = run_scrub(settings, raw, work)
    assert second.scrubbed == len(calls) - half and work.count_scrubbed() == len(calls)
    assert second.from_cache > 0  # earlier messages repeat: their analysis is reused
    assert run_scrub(settings, raw, work).scrubbed == 0  # nothing new

    # the user id gets the same surrogate in both runs
    by_id = {r.id: r for r in work.iter_scrubbed()}
    ids = set()
    for raw_call in calls:
        for msg, new in zip(raw_call.messages, by_id[raw_call.id].messages, strict=True):
            if msg.role == "tool" and msg.text().startswith('{"user_id"'):
                ids.add(json.loads(new.text())["user_id"])
    assert len(ids) == 1

    runs = mlflow.search_runs(filter_string="tags.`slimline.stage` = 'scrub'")
    assert len(runs) == 2  # the run with nothing new logs nothing
    assert runs["metrics.scrubbed_calls"].sum() == len(calls)
    assert (runs["metrics.entities.PERSON"] > 0).all()
    assert [r["status"] for r in work.runs("scrub")] == ["completed"] * 3
    raw.close()
    work.close()


def test_mlflow_run_nests_in_an_active_run(analyzer, settings, mlflow_uri, calls):
    import mlflow

    from slimline.tracking import mlflow_experiment

    raw, work = open_raw(settings), open_work(settings)
    raw.add_calls(calls[:3])
    mlflow_experiment(settings)
    with mlflow.start_run(run_name="night") as parent:
        result = run_scrub(settings, raw, work)
    child = mlflow.get_run(result.mlflow_run_id)
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.data.tags["slimline.stage"] == "scrub"
    raw.close()
    work.close()


def test_cli_scrub_and_export(analyzer, settings, mlflow_uri, calls, tmp_path):
    from slimline.cli import app

    raw, work = open_raw(settings), open_work(settings)
    raw.add_calls(calls[:4])
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    result = runner.invoke(app, [*home, "scrub", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scrubbed"] == 4

    first = next(work.iter_scrubbed())
    work.assign([{"call_id": first.id, "cluster_id": 3, "probability": 1.0, "model_version": 1}])
    out = tmp_path / "out" / "scrubbed.jsonl"
    result = runner.invoke(app, [*home, "export", "scrubbed", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"out": str(out), "calls": 4, "clustered": 1}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line.get("cluster_id") for line in lines] == [3, None, None, None]
    back = [
        CallRecord.model_validate({k: v for k, v in x.items() if k != "cluster_id"}) for x in lines
    ]
    assert [r.id for r in back] == [c.id for c in calls[:4]]
    assert "Isabella" not in out.read_text()  # the retail user's first name is gone
    raw.close()
    work.close()


def test_cli_names_a_spacy_model_it_cannot_find(settings, monkeypatch):
    from slimline.cli import app

    monkeypatch.setenv("SLIMLINE_SCRUB__SPACY_MODEL", "no_such_model")
    result = CliRunner().invoke(app, ["--home", str(settings.home), "scrub"])
    assert result.exit_code == 2
    assert "scrub.spacy_model 'no_such_model' is neither an installed" in result.output


def test_a_work_store_of_earlier_surrogates_is_not_mixed_silently(
    analyzer, settings, calls, caplog
):
    """Calls scrubbed before surrogates were scoped per conversation stay in the work store:
    every run says so while new calls get the new surrogates."""
    from slimline.tasks.scrub.stage import SURROGATES_STATE
    from slimline.tasks.scrub.surrogates import SURROGATE_VERSION

    raw, work = open_raw(settings), open_work(settings)
    work.add_scrubbed([(1, calls[0])])  # as an earlier version left it: no state
    raw.add_calls(calls[:3])
    with caplog.at_level("WARNING", logger="slimline.scrub"):
        run_scrub(settings, raw, work, report=False)
    assert "surrogates of an earlier version" in caplog.text
    assert work.get_state(SURROGATES_STATE) == "mixed"
    raw.close()
    work.close()

    from slimline.config import load_settings

    fresh = load_settings(home=settings.home.parent / "fresh")
    fresh.home.mkdir(parents=True)
    raw, work = open_raw(fresh), open_work(fresh)
    raw.add_calls(calls[:3])
    run_scrub(fresh, raw, work, report=False)
    assert work.get_state(SURROGATES_STATE) == SURROGATE_VERSION
    raw.close()
    work.close()
