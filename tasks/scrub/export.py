"""`slimline export scrubbed`: the scrubbed table as JSONL, one CallRecord per line, with
its `cluster_id` once the call is clustered. Reads only the work store."""

from __future__ import annotations

import json
import os
from pathlib import Path

from slimline.store import WorkStore


def export_scrubbed(work: WorkStore, out: Path) -> dict[str, int | str]:
    """Write every scrubbed call to `out` (replaced whole, never half-written)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    assignments = work.assignments()
    tmp = out.with_name(f".{out.name}.partial")
    calls = clustered = 0
    with tmp.open("w", encoding="utf-8") as f:
        for rec in work.iter_scrubbed():
            line = rec.model_dump(mode="json")
            if rec.id in assignments:
                line["cluster_id"] = assignments[rec.id]
                clustered += 1
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
            calls += 1
    os.replace(tmp, out)
    return {"out": str(out), "calls": calls, "clustered": clustered}
