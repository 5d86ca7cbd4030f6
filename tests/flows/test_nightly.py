"""The nightly flow end to end on real tau2 calls, with a tiny base model for speed.

Real collect, Presidio scrub, BERTopic cluster, TRL/PEFT training through local Ray, evaluation,
the MLflow gate and the report, on a real Prefect API. Then the same night again: nothing new,
nothing trained, much faster. And a night killed with SIGKILL resumes without losing or
doubling a call.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import yaml
from canaries import CANARIES, canary_forms, leaks_under, plant

AGENTS = {"tau2-airline": 5, "tau2-retail": 5}  # conversations taken per agent
PLANT_EVERY = 6


@pytest.fixture(scope="module")
def calls_file(tmp_path_factory, tau2_path) -> Path:
    """The calls of the first conversations of two agents: two tasks to find. Every
    PLANT_EVERY-th call carries canary PII (canaries.py), so that it reaches the clusters,
    the training sets, the evaluation and the report, and the test can look for it there."""
    taken: dict[str, set[str]] = {a: set() for a in AGENTS}
    out = tmp_path_factory.mktemp("nightly-data") / "calls.jsonl"
    kept = 0
    with gzip.open(tau2_path, "rt") as src, out.open("w") as dst:
        for line in src:
            obj = json.loads(line)
            agent, conv = obj["agent"], obj["metadata"]["simulation_id"]
            if agent in taken and (conv in taken[agent] or len(taken[agent]) < AGENTS[agent]):
                taken[agent].add(conv)
                kept += 1
                dst.write(json.dumps(plant(obj)) + "\n" if kept % PLANT_EVERY == 0 else line)
    return out


def write_config(
    folder: Path, tiny_base: str, max_clusters: int = 2, scrub_batch: int = 256
) -> Path:
    cfg = {
        "home": str(folder / "home"),
        "scrub": {"batch_size": scrub_batch},
        "cluster": {"min_cluster_size": 8, "n_neighbors": 8},
        "train": {
            "base_model": tiny_base,
            "max_steps": 2,
            "max_seq_len": 512,
            "grad_accum": 1,
            "min_cluster_calls": 10,
            "ray_num_cpus": 2,
        },
        "evaluate": {"max_examples": 2, "max_new_tokens": 8},
        "promote": {"min_heldout": 1},
        "nightly": {"max_clusters": max_clusters},
    }
    path = folder / "slimline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def flow_run_artifact_keys(flow_run_id) -> set[str]:
    """The keys of the artifacts a flow run published (through its task runs)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key for a in found if a.key}


def lines(path: Path) -> int:
    return sum(1 for _ in path.open())


@pytest.mark.slow
def test_a_night_then_a_quiet_night(tmp_path, calls_file, tiny_base, prefect_api, capfd):
    from mlflow import MlflowClient
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, PREFECT_LOCAL_STORAGE_PATH

    from slimline.config import load_settings
    from slimline.flows.nightly import nightly
    from slimline.store import open_raw, open_work

    config = write_config(tmp_path, tiny_base)
    started = time.perf_counter()
    state = nightly(sources=[str(calls_file)], config=str(config), return_state=True)
    first = state.result()
    first_s = time.perf_counter() - started

    n = lines(calls_file)
    assert first.stages["collect"]["new"] == n
    assert first.stages["scrub"]["scrubbed"] == n
    assert first.stages["cluster"]["total_clusters"] >= 1
    assert first.stages["train"]["trained"] >= 1
    assert first.stages["evaluate"]["evaluated"] == first.stages["train"]["trained"]
    assert "served by promoted SLMs" in first.headline

    settings = load_settings(config)
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    night = client.get_run(first.mlflow_run_id)
    assert night.data.tags["slimline.stage"] == "nightly"
    assert night.info.status == "FINISHED"
    children = client.search_runs(
        [night.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{first.mlflow_run_id}'",
    )
    trained = [r for r in children if r.data.tags.get("slimline.stage") == "train"]
    assert len(trained) == first.stages["train"]["trained"]
    for run in trained:  # base vs adapter, side by side on the cluster's run
        assert {"base.response_type_accuracy", "challenger.response_type_accuracy"} <= set(
            run.data.metrics
        )
        pictures = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
        assert {"evaluation/cascade.png", "evaluation/confusion.png"} <= pictures
        # the registered version says the gate's decision in one line, above its tags
        (version,) = client.search_model_versions(f"run_id = '{run.info.run_id}'")
        assert re.fullmatch(
            r"(promoted|kept out): serves \d+% of \d+ test calls( at [\d.]+ agreement)?; "
            r"(threshold [\d.]+|no threshold)",
            version.description,
        ), version.description
    # MLflow opens the experiment on its runs, not on the GenAI traces overview
    experiment = client.get_experiment(night.info.experiment_id)
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    # every stage's MLflow run is under the night's run: none of tonight's stands beside it
    stages = {r.data.tags.get("slimline.stage") for r in children}
    assert {"scrub", "cluster", "train", "report"} <= stages
    tonight = client.search_runs(
        [night.info.experiment_id],
        filter_string=f"attributes.start_time >= {night.info.start_time}",
    )
    loose = [r for r in tonight if r.info.run_id != night.info.run_id]
    assert all(r.data.tags.get("mlflow.parentRunId") == night.info.run_id for r in loose)
    (report_run,) = [r for r in children if r.data.tags.get("slimline.stage") == "report"]
    report = [a.path for a in client.list_artifacts(report_run.info.run_id, "report")]
    assert {"report/report.md", "report/clusters.png", "report/losses.png"} <= set(report)
    assert "served.served_share_calls" in night.data.metrics  # nights compare in the table
    # the night publishes every stage's Prefect artifact, as the single-stage flows do
    assert {
        "collect-counts",
        "scrub-report",
        "clusters",
        "selection",
        "train-summary",
        "evaluation",
        "promotion",
        "slimline-report",
        "slimline-clusters",
        "night-summary",
    } <= flow_run_artifact_keys(state.state_details.flow_run_id)

    started = time.perf_counter()
    second = nightly(sources=[str(calls_file)], config=str(config))
    second_s = time.perf_counter() - started
    assert second.nothing_new
    assert second.stages["collect"]["new"] == 0
    assert second.stages["train"] == {"planned": 0}
    assert second_s < first_s / 3, (first_s, second_s)

    raw, work = open_raw(settings), open_work(settings)
    assert raw.count_calls() == n and work.count_scrubbed() == n

    # no canary left the raw store: not the work store, MLflow (runs, datasets, adapters,
    # the report), Prefect's results and database, logs, or what the night printed
    home = Path(settings.home)
    assert {"work.db", "mlflow.db"} <= {p.name for p in home.iterdir()}
    assert any(home.glob("mlartifacts/**/adapter_model.safetensors"))
    prefect_db = Path(PREFECT_API_DATABASE_CONNECTION_URL.value().split("///", 1)[-1])
    results = Path(PREFECT_LOCAL_STORAGE_PATH.value())  # the persisted train/evaluate results
    extra = [prefect_db, *(p for p in results.rglob("*") if p.is_file())]
    leaks = leaks_under(home, extra, canary_forms())
    printed = capfd.readouterr()
    leaks += [("output", f) for f in canary_forms() if f in printed.out + printed.err]
    assert leaks == []
    with sqlite3.connect(home / "raw.db") as conn:  # the search works: raw PII is there
        raw_text = "".join(
            zlib.decompress(b).decode() for (b,) in conn.execute("SELECT data FROM raw_blobs")
        )
    assert CANARIES["email"] in raw_text


def count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.mark.slow
def test_a_killed_night_resumes_without_losing_or_doubling_calls(
    tmp_path, calls_file, tiny_base, prefect_api
):
    """The CLI's night is killed with SIGKILL part-way through scrubbing; the next night (here
    in this process) scrubs only what is left and clusters every call. Training is off
    (max_clusters 0): the quiet-night test trains, and this one is about the stored calls."""
    from prefect.settings import PREFECT_API_URL

    from slimline.flows.nightly import nightly

    config = write_config(tmp_path, tiny_base, max_clusters=0, scrub_batch=8)
    home = tmp_path / "home"
    cmd = [sys.executable, "-m", "slimline", "--config", str(config), "nightly"]
    cmd += ["--source", str(calls_file)]
    # the session's Prefect server: the killed night's run stays Running there, harmlessly
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:  # kill it once scrubbing has written its first batch: collect is done, scrub is not
        while count(home / "work.db", "scrubbed_calls") == 0:
            assert proc.poll() is None, "the night ended before it could be killed"
            assert time.monotonic() < deadline, "scrubbing never started"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    n = lines(calls_file)
    assert count(home / "raw.db", "raw_calls") == n
    before = count(home / "work.db", "scrubbed_calls")
    assert 0 < before < n, "the kill should land mid-scrub"

    result = nightly(sources=[str(calls_file)], config=str(config))
    assert result.stages["collect"]["new"] == 0  # all were stored before the kill
    assert result.stages["scrub"]["scrubbed"] == n - before  # the rest, not again the first
    assert count(home / "raw.db", "raw_calls") == n
    assert count(home / "work.db", "scrubbed_calls") == n  # each exactly once (ids are unique)
    assert result.stages["cluster"]["examined"] == n
    assert result.stages["train"] == {"planned": 0}
