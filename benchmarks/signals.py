"""Which confidence signal serves most: every signal compared on one home's evaluations.

Evaluation logs, per held-out call, every confidence signal of the challenger's answer
(slimline/decoding/confidence.py SIGNALS) in `evaluation/calibration.json` and
`evaluation/challenger.json`. For each evaluated cluster run and each signal this picks the
threshold on the CALIBRATION calls (the gate's rule: promote.target_agreement,
promote.min_calibration_served, promote.threshold_rule) and reports what it serves on the
TEST calls it never saw, with the signal's AUROC (right vs wrong among servable answers) on
each split. Read-only: it trains and evaluates nothing.

    python -m benchmarks.signals --home .slimline            # after `make demo`
    python -m benchmarks.signals --home H --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from slimline.cascade import Scored, auroc, calibrate, serve_at


def scored(rows: list[dict[str, Any]], signal: str) -> list[Scored]:
    """The rows as the cascade sees them, with `signal` as the confidence (a missing or
    non-finite value ranks lowest)."""
    out = []
    for row in rows:
        value = (row.get("signals") or {}).get(signal)
        out.append(Scored(-1e9 if value is None else value, row["servable"], row["agrees"]))
    return out


def compare(
    calibration: list[dict[str, Any]],
    test: list[dict[str, Any]],
    target: float,
    min_served: int,
    rule: str,
) -> dict[str, dict[str, Any]]:
    """Per signal: threshold chosen on `calibration`, what it serves on `test`."""
    names = sorted({k for row in calibration + test for k in (row.get("signals") or {})})
    out = {}
    for name in names:
        cal, tst = scored(calibration, name), scored(test, name)
        threshold = calibrate(cal, target, min_served, rule)  # type: ignore[arg-type]
        served = serve_at(tst, threshold.value)
        out[name] = {
            "auroc_calibration": auroc(cal),
            "auroc_test": auroc(tst),
            "threshold": threshold.value,
            "calibration_served": threshold.served,
            "test_calls": served.calls,
            "test_served": served.served,
            "test_agreed": served.agreed,
            "test_coverage": served.coverage,
            "test_agreement": served.agreement,
        }
    return out


def home_runs(home: Path) -> tuple[list[dict[str, Any]], Any]:
    """Every evaluated cluster run of the home's MLflow store with its two row lists, and
    the home's gate settings."""
    from mlflow.tracking import MlflowClient

    from slimline.config import load_settings
    from slimline.tracking import EVALUATED_TAG

    settings = load_settings(home=home)
    mlflow = MlflowClient(settings.mlflow_tracking_uri)
    runs = []
    for exp in mlflow.search_experiments():
        for run in mlflow.search_runs([exp.experiment_id], f"tags.`{EVALUATED_TAG}` = 'true'"):
            rows = {}
            for role in ("calibration", "challenger"):
                path = mlflow.download_artifacts(run.info.run_id, f"evaluation/{role}.json")
                rows[role] = json.loads(Path(path).read_text())["examples"]
            runs.append({"run_id": run.info.run_id, "name": run.info.run_name, **rows})
    return runs, settings.promote


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.signals", description=__doc__)
    parser.add_argument("--home", required=True, type=Path, help="a SLIMLINE_HOME after a night")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    runs, gate = home_runs(args.home)
    if not runs:
        print(f"no evaluated runs under {args.home}", file=sys.stderr)
        return 2
    result = []
    for run in runs:
        if not any("signals" in r for r in run["calibration"]):
            continue  # evaluated before signals were logged
        figures = compare(run["calibration"], run["challenger"], gate.target_agreement,
                          gate.min_calibration_served, gate.threshold_rule)  # fmt: skip
        result.append({"run": run["name"], "run_id": run["run_id"], "signals": figures})
        print(f"{run['name']}  ({len(run['calibration'])} calibration, "
              f"{len(run['challenger'])} test calls)")  # fmt: skip
        print(f"  {'signal':<20} {'AUROC cal':>9} {'AUROC test':>10} {'threshold':>9} "
              f"{'test served':>11} {'agreement':>9}")  # fmt: skip
        for name, f in figures.items():

            def num(x: float | None, fmt: str) -> str:
                return "-" if x is None else format(x, fmt)

            print(
                f"  {name:<20} {num(f['auroc_calibration'], '.3f'):>9} "
                f"{num(f['auroc_test'], '.3f'):>10} {num(f['threshold'], '.4f'):>9} "
                f"{f['test_served']:>4}/{f['test_calls']:<6} {num(f['test_agreement'], '.3f'):>9}"
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
