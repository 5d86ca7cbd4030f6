"""`make demo`: the nightly flow once on the bundled real agent calls, with the demo profile,
then some held-out calls replayed through the router.

Prints progress as the stages run, the night's figures and headline; replays through the
router (`slimline replay`) the first test calls of each trained cluster (calls its adapter
never trained on) and one call of each other agent, printing who answered each and the
share served; then how to look at the runs in the MLflow and Prefect UIs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tau2" / "calls.jsonl.gz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slimline.demo", description=__doc__)
    parser.add_argument("--home", default=".slimline", help="SLIMLINE_HOME of the demo")
    parser.add_argument("--source", default=str(DATA), help="call logs to start from")
    args = parser.parse_args(argv)
    if not Path(args.source).exists():
        print(f"error: the bundled data is missing: {args.source}", file=sys.stderr)
        return 2
    from slimline.cli import app

    started = time.perf_counter()
    cmd = ["--home", args.home, "--profile", "demo", "nightly", "--source", args.source]
    print(f"$ slimline {' '.join(cmd)}", flush=True)
    try:
        app(cmd, prog_name="slimline", standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            return int(exc.code)
    code = _replay(args.home, Path(args.source))
    if code:
        return code
    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s. Look at the runs:")
    print(
        f"  make ui            # MLflow UI on http://127.0.0.1:5000, Prefect on :4200 ({args.home})"
    )
    print(f"  .venv/bin/slimline --home {args.home} status")
    print(f"  .venv/bin/slimline --home {args.home} report")
    return 0


def _replay(home: str, source: Path, per_cluster: int = 8) -> int:
    """Held-out calls of the night through the router, offline (`slimline replay`). The
    calls are raw, as logged: their sample lives in a temporary file removed afterwards,
    never in SLIMLINE_HOME, where raw calls belong in the raw store only."""
    import tempfile

    from slimline.cli import app
    from slimline.runtime import flow_settings
    from slimline.tasks.serve.replay import heldout_ids, write_sample

    settings = flow_settings(home, None, "demo")
    with tempfile.TemporaryDirectory(prefix="slimline-demo-replay-") as tmp:
        sample = Path(tmp) / "calls.jsonl"
        calls = write_sample(source, heldout_ids(settings, per_cluster), 1, sample)
        cmd = ["--home", home, "--profile", "demo", "replay", "--source", str(sample), "-v"]
        print(
            f"\n$ slimline {' '.join(cmd)}\n# {calls} of the bundled calls (a temporary "
            f"file): the first {per_cluster} test calls of each trained cluster and one call "
            "of each other agent; who answers each",
            flush=True,
        )
        try:
            app(cmd, prog_name="slimline", standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
