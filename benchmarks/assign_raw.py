"""Do raw calls land in the cluster their scrubbed twins were put in?

The router assigns live, RAW requests with the saved cluster model (tasks/serve/assign.py),
while the cluster stage built the model, and each cluster's similarity floor, from SCRUBBED
calls. Scrub rewrites names, numbers and addresses, so a raw call's signature embeds a little
differently; a call whose scrubbed twin cleared its cluster's floor could fall below it raw
and go upstream as an unknown cluster. This takes a sample of one home's clustered calls,
assigns each twice (scrubbed, and its raw twin from the raw store), within the agent
identity of its cluster as the router does, and counts where each lands. Read-only.

    python -m benchmarks.assign_raw --home .slimline            # after `make demo`
    python -m benchmarks.assign_raw --home H --calls 600 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np


def _where(cid: int | None, expected: int) -> str:
    return "same" if cid == expected else ("none" if cid is None else "other")


def measure(home: Path, calls: int, seed: int = 0) -> dict[str, Any]:
    from slimline.config import load_settings
    from slimline.store import RawStore, WorkStore
    from slimline.tasks.serve.assign import ClusterAssigner

    settings = load_settings(home=home)
    work, raw = WorkStore(settings.work_store_url), RawStore(settings.raw_store_url)
    try:
        assigner = ClusterAssigner.from_store(settings, work)
        pairs = [(cid, i) for cid, ids in sorted(work.members().items()) for i in ids]
        random.Random(seed).shuffle(pairs)
        counts: Counter[str] = Counter()
        shifts = []
        for cid, call_id in pairs[:calls]:
            scrubbed = next(iter(work.iter_scrubbed(ids=[call_id])), None)
            twins = raw.get_calls([call_id])
            if scrubbed is None or not twins:
                counts["no twin"] += 1
                continue
            allowed = assigner.same_identity(cid)
            s_cid, s_sim = assigner.assign(scrubbed, allowed)
            r_cid, r_sim = assigner.assign(twins[0], allowed)
            counts[f"scrubbed_{_where(s_cid, cid)}"] += 1
            counts[f"raw_{_where(r_cid, cid)}"] += 1
            counts["raw_lost"] += s_cid == cid and r_cid != cid  # the case this looks for
            shifts.append(r_sim - s_sim)
    finally:
        work.close()
        raw.close()
    out: dict[str, Any] = {"home": str(home), "calls": len(shifts), **dict(sorted(counts.items()))}
    if shifts:
        out["similarity_shift"] = {  # raw minus scrubbed, to the nearest allowed centre
            "mean": round(float(np.mean(shifts)), 5),
            "p5": round(float(np.percentile(shifts, 5)), 5),
            "min": round(float(np.min(shifts)), 5),
        }
    out["floors"] = {str(k): round(v, 4) for k, v in sorted(assigner.floors.items())}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.assign_raw", description=__doc__)
    parser.add_argument("--home", required=True, type=Path, help="a SLIMLINE_HOME after a night")
    parser.add_argument("--calls", type=int, default=600, help="clustered calls sampled")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = measure(args.home, args.calls)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
