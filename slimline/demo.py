"""`make demo`: run what slimline has, end to end, on the bundled real agent calls.

Runs the nightly flow (`slimline nightly`) once on ../shared/data with the demo profile,
then prints the status. While stages are still arriving, it runs those that exist.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

from slimline.config import load_settings
from slimline.runtime import configure, open_stores

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tau2" / "calls.jsonl.gz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slimline-demo", description=__doc__)
    parser.add_argument("--home", default=".slimline")
    parser.add_argument("--source", default=str(DATA))
    args = parser.parse_args(argv)
    settings = load_settings(home=Path(args.home), profile="demo")
    configure(settings)
    raw, work = open_stores(settings)
    started = time.perf_counter()
    from slimline.tasks.collect.formats import from_chat_completion_pair

    with gzip.open(args.source, "rt") as f:
        records = [
            from_chat_completion_pair(json.loads(line), args.source, f"line {n}")
            for n, line in enumerate(f, 1)
        ]
    added = raw.add_calls(records)
    print(
        f"stored {added.new} new calls from {args.source} "
        f"({added.duplicates} already stored) in {time.perf_counter() - started:.1f} s"
    )
    print(f"raw calls: {raw.count_calls()}, scrubbed: {work.count_scrubbed()}")
    print("Stages after collect arrive with their issues; see README.md.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
