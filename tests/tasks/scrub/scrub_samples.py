"""Real tau2 calls for scrub's tests, picked by conversation."""

from __future__ import annotations

from collections import defaultdict

from slimline.record import CallRecord


def conversations(lines: list[dict], per_agent: int) -> list[CallRecord]:
    """Every call of the first `per_agent` conversations of each agent, in file order."""
    from slimline.tasks.collect.formats import from_chat_completion_pair

    chosen: dict[str, list[str]] = defaultdict(list)
    for obj in lines:
        sims = chosen[obj["agent"]]
        sim = obj["metadata"]["simulation_id"]
        if sim not in sims and len(sims) < per_agent:
            sims.append(sim)
    keep = {s for sims in chosen.values() for s in sims}
    return [
        from_chat_completion_pair(obj, "tau2.jsonl", f"line {n}")
        for n, obj in enumerate(lines, 1)
        if obj["metadata"]["simulation_id"] in keep
    ]
