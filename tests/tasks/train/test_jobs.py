"""Training through a local Ray: clusters of real tau2 calls become adapters, each in an MLflow
run nested under the night's run; a failing job is reported and the others go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit.tiny_train import build_tiny_base, store_clusters, tau2_records, toy_examples

from slimline.tracking import CLUSTER_TAG


@pytest.fixture(scope="module")
def tinier_base(tmp_path_factory) -> str:
    return build_tiny_base(tmp_path_factory.mktemp("tinier-base"), hidden=32)


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One local Ray (2 CPUs) for the module; train_clusters uses it as it finds it."""
    from slimline.config import load_settings
    from slimline.tasks.train.jobs import ray_session

    settings = load_settings(home=tmp_path_factory.mktemp("ray-home"), train={"ray_num_cpus": 2})
    with ray_session(settings) as info:
        yield info


def _race_settings(settings, tiny: str, tinier: str):
    """Two tiny candidates in the catalog, raced for every cluster, short training."""
    common = {"params_m": 1.0, "context_window": 2048, "licence": "Apache-2.0"}
    settings.select = settings.select.model_copy(
        update={
            "catalog": [
                {**common, "id": "tiny", "source": tiny, "params_m": 3.3},
                {**common, "id": "tinier", "source": tinier, "params_m": 1.6},
            ],
            "only": ["tiny", "tinier"],
            "race_top_k": 2,
        }
    )
    settings.train = settings.train.model_copy(
        update={
            "max_steps": 2,
            "race_steps": 1,
            "grad_accum": 1,
            "max_seq_len": 512,
            "min_cluster_calls": 5,
            "eval_loss_examples": 2,
            "system_metrics_interval_s": 1.0,
            "learning_rate": 1e-2,
        }
    )
    return settings


@pytest.mark.slow
def test_two_clusters_race_and_train_on_ray_as_nested_mlflow_runs(
    settings, mlflow_uri, tau2_path, tiny_base, tinier_base, local_ray
):
    from mlflow import MlflowClient

    from slimline.store import open_work
    from slimline.tasks.train.stage import run_train
    from slimline.tracking import mlflow_experiment

    _race_settings(settings, tiny_base, tinier_base)
    work = open_work(settings)
    airline = tau2_records(tau2_path, "tau2-airline", 2)
    retail = tau2_records(tau2_path, "tau2-retail", 2)
    tiny = tau2_records(tau2_path, "tau2-telecom", 1)[:2]
    store_clusters(
        work, {0: ("airline-tools", airline), 1: ("retail-tools", retail), 2: ("tiny", tiny)}
    )
    client = MlflowClient(mlflow_uri)
    parent = client.create_run(mlflow_experiment(settings), run_name="nightly").info.run_id

    result = run_train(settings, cluster_ids=[0, 1, 2, -1], parent_run_id=parent)

    by_id = {c.cluster_id: c for c in result.clusters}
    assert by_id[2].status == "skipped" and "min_cluster_calls" in by_id[2].reason
    assert by_id[-1].status == "skipped"
    for cid, records in ((0, airline), (1, retail)):
        entry = by_id[cid]
        assert entry.status == "trained", entry.reason
        assert entry.adapter_uri == f"runs:/{entry.run_id}/adapter"
        assert entry.final_loss is not None
        raced = {c["model"]: c for c in entry.race}
        assert set(raced) == {"tiny", "tinier"}
        assert all(c["eval_loss_per_char"] > 0 for c in raced.values())
        winner = min(raced, key=lambda m: raced[m]["eval_loss_per_char"])
        assert entry.selection["model"] == winner
        assert entry.base_model == raced[winner]["source"] in (tiny_base, tinier_base)
        convs = {r.conversation_id for r in records}
        assert set(entry.train_conversation_ids) | set(entry.eval_conversation_ids) == convs
        assert entry.eval_conversation_ids and not (
            set(entry.train_conversation_ids) & set(entry.eval_conversation_ids)
        )

        run = client.get_run(entry.run_id)
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent
        assert tags["slimline.stage"] == "train" and tags[CLUSTER_TAG] == str(cid)
        assert tags["slimline.slug"] == entry.slug
        assert tags["slimline.dataset_digest"] == entry.dataset_digest
        assert run.data.params["base_model"] == entry.base_model
        assert "won the race" in run.data.params["select.reasons"]
        assert run.data.params["train.max_steps"] == "2"
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(entry.run_id, "loss")]
        assert steps == [1, 2]
        assert "system/cpu_utilization_percentage" in run.data.metrics
        (dataset_input,) = run.inputs.dataset_inputs
        assert dataset_input.dataset.digest == entry.dataset_digest[:32]
        assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"

        files = {a.path for a in client.list_artifacts(entry.run_id, "adapter")}
        assert {
            "adapter/adapter_config.json",
            "adapter/adapter_model.safetensors",
            "adapter/tokenizer.json",
            "adapter/distilled_context.json",
        } <= files
        assert "train/race.json" in {a.path for a in client.list_artifacts(entry.run_id, "train")}
        local = client.download_artifacts(entry.run_id, "adapter/distilled_context.json")
        context = json.loads(Path(local).read_text())
        assert context["hash"] == entry.context_hash
        assert context["base_model"] == entry.base_model


@pytest.mark.slow
def test_a_failing_job_is_reported_and_the_others_finish(settings, tiny_base, local_ray):
    from slimline.tasks.train.config import TrainConfig
    from slimline.tasks.train.jobs import run_jobs
    from slimline.tasks.train.train import TrainJob

    cfg = TrainConfig(max_steps=1, grad_accum=1, max_seq_len=128, max_retries=1).model_dump()
    good = TrainJob(1, "good", tiny_base, toy_examples(2), cfg)
    bad = TrainJob(2, "bad", str(settings.path("no-such-model")), toy_examples(2), cfg)
    settings.train = settings.train.model_copy(update={"max_retries": 1})
    seen = []

    (result, error), (nothing, why) = run_jobs(
        [good, bad], settings, on_done=lambda j, r, e: seen.append(j.slug)
    )

    assert error is None and result.final_loss is not None
    assert result.files["adapter_config.json"]
    assert nothing is None and "ModelSourceError" in why and "no-such-model" in why
    assert sorted(seen) == ["bad", "good"]


def test_nothing_trainable_starts_no_ray(settings, mlflow_uri, tau2_path):
    import ray

    from slimline.store import open_work
    from slimline.tasks.train.stage import run_train

    work = open_work(settings)
    store_clusters(work, {4: ("small", tau2_records(tau2_path, "tau2-airline", 1)[:3])})
    result = run_train(settings)
    assert [(c.cluster_id, c.status) for c in result.clusters] == [(4, "skipped")]
    assert result.parent_run_id is not None and not result.trained
    assert not ray.is_initialized() or result.placement == ""


def test_cli_train_says_when_there_is_nothing_to_train(settings, mlflow_uri, tau2_path):
    from typer.testing import CliRunner

    from slimline.cli import app
    from slimline.store import open_work

    runner = CliRunner()
    home = str(settings.home)
    empty = runner.invoke(app, ["--home", home, "train", "--json"])
    assert empty.exit_code == 2 and "no clusters" in empty.output

    store_clusters(
        open_work(settings), {5: ("small", tau2_records(tau2_path, "tau2-retail", 1)[:2])}
    )
    done = runner.invoke(app, ["--home", home, "train", "--cluster", "5", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert [(c["cluster_id"], c["status"]) for c in data["clusters"]] == [(5, "skipped")]


@pytest.mark.slow
def test_when_ray_cannot_place_the_jobs_the_clusters_fail_with_the_reason(
    settings, mlflow_uri, tau2_path, tiny_base, local_ray
):
    from mlflow import MlflowClient

    from slimline.store import open_work
    from slimline.tasks.train.stage import run_train

    settings.train = settings.train.model_copy(
        update={"base_model": tiny_base, "min_cluster_calls": 2, "cpus_per_job": 64.0}
    )
    store_clusters(
        open_work(settings), {0: ("airline", tau2_records(tau2_path, "tau2-airline", 2))}
    )

    result = run_train(settings)

    (entry,) = result.clusters
    assert entry.status == "failed" and "exceeds the largest Ray node" in entry.reason
    parent = MlflowClient(mlflow_uri).get_run(result.parent_run_id)
    assert parent.info.status == "FAILED" and parent.data.metrics["clusters_failed"] == 1
