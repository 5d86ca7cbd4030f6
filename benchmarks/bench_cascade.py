"""What the cascade serves against what training costs, on the bundled real calls.

The product's own stages, end to end: collect, scrub and cluster the 1,908 tau2 calls into
a fresh SLIMLINE_HOME, then for each step budget train the chosen clusters' adapters from
scratch (SmolLM2-135M, the demo profile's recipe with `train.max_steps` = the budget), evaluate
them (calibration and test splits by conversation) and read what the gate sees: per cluster
and budget, the training time, the calibrated threshold, coverage and served agreement on
the TEST calls (the threshold never saw them), the AUROC of the confidence over the
servable answers, and the all-calls name+arguments exact match beside them. Then the share
of all calls that would be served (sum of cluster share x coverage), and every confidence
signal compared the same way (benchmarks/signals.py: threshold on calibration, figures on
test).

    python -m benchmarks cascade
    SLIMLINE_BENCH_CASCADE_STEPS=40,120 SLIMLINE_BENCH_CASCADE_CLUSTERS=1 \
        python -m benchmarks cascade

`..._CLUSTERS`: how many of the largest clusters (default 2, the demo's); `..._STEPS`: the
budgets (default 40,80,160); `..._PROFILE`: the settings profile (default demo).
Slow by design: each budget trains every chosen cluster.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

STEPS = [int(x) for x in os.environ.get("SLIMLINE_BENCH_CASCADE_STEPS", "40,80,160").split(",")]
CLUSTERS = int(os.environ.get("SLIMLINE_BENCH_CASCADE_CLUSTERS", "2"))
PROFILE = os.environ.get("SLIMLINE_BENCH_CASCADE_PROFILE", "demo")


def _home(tmp: Path) -> Any:
    from benchmarks.common import TAU2
    from slimline.config import load_settings
    from slimline.runtime import configure
    from slimline.tasks.cluster.stage import run_cluster
    from slimline.tasks.collect.stage import run_collect
    from slimline.tasks.scrub.stage import run_scrub

    settings = load_settings(home=tmp / "home", profile=PROFILE)
    configure(settings)
    run_collect(settings, [str(TAU2)])
    run_scrub(settings, report=False)
    run_cluster(settings, track=False)
    return settings


def _row(report: Any, shares: dict[int, float], steps: int, seconds: float) -> dict[str, Any]:
    ours = report.cascade.get("challenger") or {}
    return {
        "cluster": report.slug,
        "steps": steps,
        "train_s": round(seconds, 1),
        "test_calls": report.n_examples,
        "calibration_calls": report.n_calibration,
        "threshold": report.threshold,
        "coverage": ours.get("coverage"),
        "served": ours.get("served"),
        "served_agreement": ours.get("served_agreement"),
        "auroc": ours.get("auroc"),
        "name_args_all": report.metric("challenger", "name_args_accuracy"),
        "share_of_calls": shares.get(report.cluster_id, 0.0),
        "calibration": report.calibration.get("reason", ""),
    }


def _signals(settings: Any, run_id: str) -> dict[str, Any]:
    """Every confidence signal on this run's answers (benchmarks/signals.py)."""
    import json

    from benchmarks.signals import compare
    from slimline.tracking import client

    rows = {}
    for role in ("calibration", "challenger"):
        path = client(settings).download_artifacts(run_id, f"evaluation/{role}.json")
        rows[role] = json.loads(Path(path).read_text())["examples"]
    gate = settings.promote
    return compare(rows["calibration"], rows["challenger"], gate.target_agreement,
                   gate.min_calibration_served, gate.threshold_rule)  # fmt: skip


def main(out_dir: Path) -> dict[str, Any]:
    from slimline.store import open_work
    from slimline.tasks.evaluate.stage import run_evaluate
    from slimline.tasks.train.stage import run_train

    with tempfile.TemporaryDirectory(prefix="slimline-bench-cascade-") as tmp:
        settings = _home(Path(tmp))
        work = open_work(settings)
        sizes = {cid: len(ids) for cid, ids in work.members().items()}
        total = work.count_scrubbed()
        chosen = sorted(sizes, key=lambda c: -sizes[c])[:CLUSTERS]
        shares = {cid: sizes[cid] / total for cid in chosen}
        rows = []
        for steps in STEPS:
            budget = settings.model_copy(
                update={"train": settings.train.model_copy(update={"max_steps": steps})}
            )
            started = time.perf_counter()
            training = run_train(budget, chosen)
            seconds = time.perf_counter() - started
            evaluation = run_evaluate(budget, training)
            for report in evaluation.clusters:
                row = _row(report, shares, steps, seconds)
                row["signals"] = _signals(settings, report.run_id)
                rows.append(row)
                print(
                    f"  {row['cluster']:<40} {steps:>4} steps {row['train_s']:>7.0f} s  "
                    f"serves {row['coverage'] or 0:6.1%} of {row['test_calls']} test calls at "
                    f"{row['served_agreement'] or 0:.2f}  AUROC {row['auroc'] or 0:.2f}  "
                    f"name+args(all) {row['name_args_all'] or 0:.2f}",
                    flush=True,
                )
                for name, f in row["signals"].items():
                    print(
                        f"      {name:<20} AUROC test {f['auroc_test'] or 0:.2f}  serves "
                        f"{f['test_served']}/{f['test_calls']} at {f['test_agreement'] or 0:.2f}"
                    )
        served = {
            steps: sum(
                r["share_of_calls"] * (r["coverage"] or 0) for r in rows if r["steps"] == steps
            )
            for steps in STEPS
        }
        for steps, share in served.items():
            print(f"  {steps:>4} steps: {share:.1%} of all calls served", flush=True)
    return {
        "profile": PROFILE,
        "steps": STEPS,
        "clusters": CLUSTERS,
        "rows": rows,
        "served_share": served,
    }
