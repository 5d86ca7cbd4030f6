"""`make demo`: the nightly flow once on the bundled real agent calls, with the demo profile.

Prints progress as the stages run, the night's figures and headline, then how to look at
the runs in the MLflow and Prefect UIs.
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
    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s. Look at the runs:")
    print(
        f"  make ui            # MLflow UI on http://127.0.0.1:5000, Prefect on :4200 ({args.home})"
    )
    print(f"  .venv/bin/slimline --home {args.home} status")
    print(f"  .venv/bin/slimline --home {args.home} report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
