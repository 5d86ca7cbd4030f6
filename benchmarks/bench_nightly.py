"""The nightly flow on 10,000 calls with training excluded, on 2 cores: time and peak memory
per stage.

The calls are the 1,908 tau2 calls and copies of them whose latest turn is varied
(benchmarks/bench_cluster.py says how), written as one JSONL file of request/response
pairs. One real nightly flow run (Prefect's ephemeral API, MLflow on SQLite) collects,
scrubs and clusters them into a fresh SLIMLINE_HOME, with `nightly.max_clusters: 0` so that
no cluster is trained (training is measured by bench_train). Each stage's time is its
Prefect task run's (start to end, as the Prefect API recorded it); its peak memory is that
of the process tree (benchmarks/memory.py) while the task ran. Target: < 15 minutes.

    python -m benchmarks nightly        # SLIMLINE_BENCH_NIGHTLY_CALLS=2000 for a quick look
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CALLS = int(os.environ.get("SLIMLINE_BENCH_NIGHTLY_CALLS", "10000"))
TARGET_S = 15 * 60
STAGES = {  # Prefect task name -> stage
    "collect-source": "collect",
    "scrub": "scrub",
    "cluster": "cluster",
    "plan-night": "plan",
    "open-night": "mlflow",
    "close-night": "mlflow",
    "report": "report",
}


def _write_calls(path: Path, n: int) -> None:
    """`n` calls as request/response pairs, the shape of the bundled data."""
    from benchmarks.bench_cluster import varied_calls

    with path.open("w") as f:
        for rec in varied_calls(n):
            pair = {
                "timestamp": rec.timestamp.isoformat(),
                "agent": rec.agent,
                "conversation_id": rec.conversation_id,
                "cost_usd": rec.cost_usd,
                "metadata": rec.metadata,
                "request": {
                    "model": rec.model,
                    "messages": [
                        m.model_dump(mode="json", exclude_none=True) for m in rec.messages
                    ],
                    "tools": rec.tools,
                },
                "response": {
                    "choices": [
                        {"message": rec.response.model_dump(mode="json", exclude_none=True)}
                    ],
                    "usage": {
                        "prompt_tokens": rec.prompt_tokens,
                        "completion_tokens": rec.completion_tokens,
                    },
                },
            }
            f.write(json.dumps(pair) + "\n")


def _task_runs(flow_run_id: Any) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def _seconds_since(anchor: tuple[float, datetime], when: datetime) -> float:
    """`when` (a Prefect timestamp) on this process's perf_counter clock."""
    clock, wall = anchor
    return clock + (when - wall).total_seconds()


def main(out_dir: Path) -> dict[str, Any]:
    import yaml

    from benchmarks.bench_cluster import _pin_cores
    from benchmarks.memory import TreeMemory

    cores = _pin_cores()
    tmp = Path(tempfile.mkdtemp(prefix="slimline-bench-nightly-"))
    calls = tmp / "calls.jsonl"
    _write_calls(calls, CALLS)
    config = tmp / "slimline.yaml"
    config.write_text(yaml.safe_dump({"home": str(tmp / "home"), "nightly": {"max_clusters": 0}}))

    from slimline.config import load_settings
    from slimline.runtime import configure

    configure(load_settings(config))  # Prefect's home and settings before Prefect starts
    from slimline.flows.nightly import nightly

    load_before = os.getloadavg()[0]
    anchor = (time.perf_counter(), datetime.now(UTC))
    with TreeMemory(os.getpid()) as mem:
        started = time.perf_counter()
        state = nightly(sources=[str(calls)], config=str(config), return_state=True)
        seconds = time.perf_counter() - started
    result = state.result()
    stages: dict[str, dict[str, float]] = {}
    runs = sorted(
        _task_runs(state.state_details.flow_run_id), key=lambda r: r.start_time or anchor[1]
    )
    for run in runs:
        name = "collect-source" if run.name.startswith("collect ") else run.name.rsplit("-", 1)[0]
        stage = STAGES.get(name, "other")
        if run.start_time is None or run.end_time is None:
            continue
        start = _seconds_since(anchor, run.start_time)
        end = _seconds_since(anchor, run.end_time)
        peak = mem.peak(start, end)
        entry = stages.setdefault(stage, {"seconds": 0.0, "peak_pss_gib": 0.0, "peak_rss_gib": 0.0})
        entry["seconds"] = round(entry["seconds"] + (end - start), 1)
        entry["peak_pss_gib"] = max(entry["peak_pss_gib"], peak["pss_gib"])
        entry["peak_rss_gib"] = max(entry["peak_rss_gib"], peak["rss_gib"])
    whole = mem.peak()
    shutil.rmtree(tmp, ignore_errors=True)
    figures = {
        "calls": CALLS,
        "cores": cores,
        "seconds": round(seconds, 1),
        "target_s": TARGET_S,
        "within_target": seconds < TARGET_S,
        "peak_pss_gib": whole["pss_gib"],
        "peak_rss_gib": whole["rss_gib"],
        "stages": stages,
        "night": result.stages,
        "load_average_before": round(load_before, 2),
    }
    print(
        f"nightly (training excluded): {CALLS} calls in {seconds:.0f} s on {cores} cores "
        f"(target < {TARGET_S} s); peak {whole['pss_gib']:.2f} GiB PSS "
        f"({whole['rss_gib']:.2f} GiB RSS summed)"
    )
    for stage, entry in stages.items():
        print(f"  {stage:>8}: {entry['seconds']:7.1f} s, peak {entry['peak_pss_gib']:.2f} GiB PSS")
    return figures
