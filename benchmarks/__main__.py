"""`python -m benchmarks` (`make bench`): run every benchmarks/bench_*.py, each writing JSON.

Each module has `main(out_dir: Path) -> dict` that prints its figures and returns them; the
results land in benchmarks/results/<name>.json. `python -m benchmarks collect` runs one.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    wanted = [f"bench_{a.removeprefix('bench_')}" for a in argv] or names
    unknown = set(wanted) - set(names)
    if unknown:
        print(f"unknown benchmarks: {', '.join(sorted(unknown))}; known: {', '.join(names)}")
        return 2
    for name in wanted:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        result = importlib.import_module(f"benchmarks.{name}").main(out)
        result["wall_s"] = round(time.perf_counter() - started, 2)
        path = out / f"{name.removeprefix('bench_')}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"   -> {path.relative_to(HERE.parent)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
