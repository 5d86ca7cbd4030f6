"""`slimline replay`: logged calls through the router's decision path, offline.

Each logged call's request goes through `Router.decide` (the champions of the registry, the
saved cluster model, the small models decoding as they would live); the logged response
stands in for the upstream's answer. Nothing is sent anywhere and nothing is recorded.
Per cluster (and in total): the calls, how many the small models would serve and why the
others would go upstream, the agreement of the served tool-call answers with the logged
ones (names and arguments equal), the small model's latency, and the logged cost of the
calls served (what serving them saves, before the small model's own cost).
"""

from __future__ import annotations

import gzip
import json
import statistics
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slimline.chat_format import reference_calls
from slimline.record import CallRecord
from slimline.tasks.serve.openai import ChatRequest

UNASSIGNED = "unassigned"


def read_calls(path: Path) -> Iterator[CallRecord]:
    """The calls logged in a JSONL file (plain or gzip; any shape collect reads); lines that
    are not calls are skipped."""
    for _, records in _logged_lines(path):
        yield from records


def _logged_lines(path: Path) -> Iterator[tuple[str, list[CallRecord]]]:
    """Each line of a call log with the calls it holds."""
    from slimline.tasks.collect.formats import RecordBuilder
    from slimline.tasks.collect.parse import parse_object

    builder = RecordBuilder(cache=False)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            yield line, parse_object(obj, str(path), f"line {n}", builder).records


def heldout_ids(settings: Any, per_model: int) -> set[str]:
    """Up to `per_model` TEST calls of each registered cluster model's newest candidate
    (alias `champion`, else `challenger`): calls its adapter never trained on and its
    threshold never saw, as evaluation logged them (evaluation/challenger.json)."""
    from slimline.tasks.promote import registry
    from slimline.tasks.report.per_task import evaluated_answers
    from slimline.tracking import CHALLENGER, CHAMPION

    client = registry.client_for(settings.mlflow_tracking_uri)
    ids: set[str] = set()
    for model in client.search_registered_models():
        version = registry.version_by_alias(
            client, model.name, CHAMPION
        ) or registry.version_by_alias(client, model.name, CHALLENGER)
        if version is not None and version.run_id:
            answers = evaluated_answers(client, version.run_id)
            ids.update(a["call_id"] for a in answers[:per_model])
    return ids


def write_sample(source: Path, ids: set[str], others_per_agent: int, out: Path) -> int:
    """Write to `out` the lines of `source` holding the calls `ids`, and the first
    `others_per_agent` calls of every agent none of `ids` belongs to; returns the calls."""
    kept: list[str] = []
    own: set[str | None] = set()
    others: dict[str | None, list[str]] = {}
    for line, records in _logged_lines(source):
        if any(r.id in ids for r in records):
            kept.append(line)
            own.update(r.agent for r in records)
        elif records:
            lines = others.setdefault(records[0].agent, [])
            if len(lines) < others_per_agent:
                lines.append(line)
    kept += [line for agent, lines in others.items() if agent not in own for line in lines]
    out.write_text("".join(line if line.endswith("\n") else line + "\n" for line in kept))
    return len(kept)


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


class _Tally:
    def __init__(self) -> None:
        self.calls = self.served = self.tool_served = self.agreed = 0
        self.reasons: Counter[str] = Counter()
        self.slm_ms: list[float] = []
        self.tokens = 0
        self.cost_saved = 0.0
        self.model: str | None = None

    def add(self, record: CallRecord, decision: Any) -> None:
        self.calls += 1
        if decision.champion is not None:
            self.model = decision.champion.name
        if decision.slm_ms is not None:
            self.slm_ms.append(decision.slm_ms)
            self.tokens += len(decision.answer.token_ids) if decision.answer else 0
        if not decision.served:
            self.reasons[decision.reason] += 1
            return
        self.served += 1
        self.cost_saved += record.cost_usd or 0.0
        if record.response.tool_calls:
            self.tool_served += 1
            self.agreed += decision.parsed.tool_calls == reference_calls(record.response)

    def figures(self) -> dict[str, Any]:
        seconds = sum(self.slm_ms) / 1000
        return {
            "calls": self.calls,
            "served": self.served,
            "served_share": round(self.served / self.calls, 6) if self.calls else 0.0,
            "agreement": round(self.agreed / self.tool_served, 6) if self.tool_served else None,
            "served_tool_calls": self.tool_served,
            "fallbacks": dict(sorted(self.reasons.items())),
            "slm_ms_p50": _p50(self.slm_ms),
            "slm_tokens_per_s": round(self.tokens / seconds, 2) if seconds else None,
            "cost_saved_usd": round(self.cost_saved, 6),
        }


def replay(router: Any, records: list[CallRecord], progress: Any = None) -> dict[str, Any]:
    """Every record through `router.decide`; the figures (see the module)."""
    total = _Tally()
    clusters: dict[str, _Tally] = {}
    for i, record in enumerate(records, 1):
        decision = router.decide(ChatRequest.from_record(record), assign_all=True)
        key = UNASSIGNED if decision.cluster_id is None else str(decision.cluster_id)
        clusters.setdefault(key, _Tally()).add(record, decision)
        total.add(record, decision)
        if progress is not None:
            progress(i, record, decision)
    out = total.figures()
    out["clusters"] = [
        {"cluster": key, "model": t.model, **t.figures()} for key, t in sorted(clusters.items())
    ]
    return out
