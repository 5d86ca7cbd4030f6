"""Peak memory of a process and everything it starts (Ray workers, scrub's analysis
processes, Prefect's ephemeral server), sampled in a background thread.

    python -m benchmarks.memory make demo     # runs the command, prints its peak, JSON out

RSS summed over a process tree counts shared pages (torch's libraries, mapped by every
worker) once per process, so PSS (each shared page split between the processes that map
it) is reported beside it; PSS is the figure to hold against a memory budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

GIB = 1024**3


class TreeMemory:
    """Samples the summed RSS and PSS of `pid` and its descendants every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, int, int]] = []  # (perf_counter, rss, pss)
        self.at_peak: list[tuple[str, int]] = []  # (process, pss) when the PSS peaked
        self.peak_time: float | None = None  # perf_counter of that sample
        self._peak_pss = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)

    def _sample(self) -> None:
        rss = pss = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        each = []
        for proc in procs:
            try:
                full = proc.memory_full_info()
                name = " ".join(proc.cmdline()[:3])[:120] or proc.name()
            except psutil.Error:  # gone, or not ours to read
                continue
            proc_pss = getattr(full, "pss", full.rss)
            rss += full.rss
            pss += proc_pss
            each.append((f"{proc.pid} {name}", proc_pss))
        now = time.perf_counter()
        self.samples.append((now, rss, pss))
        if pss > self._peak_pss:
            self._peak_pss, self.peak_time = pss, now
            self.at_peak = sorted(each, key=lambda e: -e[1])

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def peak(self, start: float = float("-inf"), end: float = float("inf")) -> dict[str, float]:
        """Peak RSS and PSS (GiB) between `start` and `end`: the samples taken then, and the
        last one before `start` (what was held when it began; a short stage has no other)."""
        before = [(r, p) for t, r, p in self.samples if t < start][-1:]
        inside = before + [(r, p) for t, r, p in self.samples if start <= t <= end]
        if not inside:
            return {"rss_gib": 0.0, "pss_gib": 0.0, "samples": 0}
        return {
            "rss_gib": round(max(r for r, _ in inside) / GIB, 3),
            "pss_gib": round(max(p for _, p in inside) / GIB, 3),
            "samples": len(inside),
        }


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m benchmarks.memory COMMAND [ARG ...]", file=sys.stderr)
        return 2
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    with TreeMemory(proc.pid) as mem:
        code = proc.wait()
    seconds = time.perf_counter() - started
    peak_at = mem.peak_time - started if mem.peak_time is not None else None
    figures = {
        "command": argv,
        "exit_code": code,
        "seconds": round(seconds, 1),
        **mem.peak(),
        "peak_at_s": round(peak_at, 1) if peak_at is not None else None,
        "at_peak_pss_gib": [(name, round(b / GIB, 3)) for name, b in mem.at_peak[:12]],
        "timeline_pss_gib": [
            (round(t - started), round(p / GIB, 2)) for t, _, p in mem.samples[::10]
        ],
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "memory.json").write_text(json.dumps(figures, indent=2))
    print(
        f"\n{' '.join(argv)}: exit {code} after {seconds:.0f} s; peak memory of the process "
        f"tree {figures['pss_gib']:.2f} GiB PSS ({figures['rss_gib']:.2f} GiB RSS summed) "
        f"at {figures['peak_at_s']} s -> benchmarks/results/memory.json"
    )
    for name, gib in figures["at_peak_pss_gib"][:8]:
        print(f"  {gib:6.2f} GiB  {name}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
