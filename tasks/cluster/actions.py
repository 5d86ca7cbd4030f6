"""The tasks inside a cluster: each call's task from what the request asks and what the
teacher did, with a label made of the words the user wrote in the agent.

A call's task key is the teacher's action on it: `call:<tool>` for a tool call (the tools
called, sorted and joined by "+"), and for a text answer `text:<turn>`, where the turn says
what the request asked (`user`: the user's message, `tool:<name>`: a tool's result, `start`:
the opening). Labels come from tool names only ("get_customer_by_phone" reads "get customer
by phone"), never from the conversation's text, so no surrogate value (scrub's replacement
of a name or an address) can reach them.

`task_table` lists a cluster's tasks with their calls and share, largest first; tasks
smaller than `min_share` of the cluster are counted together as "other".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from slimline.record import CallRecord
from slimline.tasks.cluster.signature import CallFacts, turn_kind

OTHER = "other"


def task_key(called_tools: Sequence[str], turn: str) -> str:
    """The task of a call whose response called `called_tools` after a `turn` (turn_kind)."""
    if called_tools:
        return "call:" + "+".join(sorted(dict.fromkeys(called_tools)))
    return "text:" + turn


def task_of(fact: CallFacts) -> str:
    return task_key(fact.called_tools, fact.turn)


def _words(name: str) -> str:
    return " ".join(name.replace("-", "_").replace(".", "_").split("_")).strip() or name


def task_label(key: str) -> str:
    """A readable label of a task key, from tool names alone."""
    kind, _, rest = key.partition(":")
    if kind == "call":
        return " + ".join(_words(name) for name in rest.split("+"))
    if kind == "text":
        if rest == "user":
            return "answer the user in text"
        if rest.startswith("tool:"):
            tool = rest.removeprefix("tool:")
            return "answer in text after " + (_words(tool) if tool != "?" else "a tool result")
        if rest == "start":
            return "open the conversation in text"
    return "other calls" if key == OTHER else key


def task_table(members: Sequence[CallFacts], min_share: float = 0.0) -> list[dict[str, Any]]:
    """[{task, label, calls, share}] of a cluster's calls, largest first."""
    counts = Counter(task_of(f) for f in members)
    total = sum(counts.values())
    rows: list[dict[str, Any]] = []
    other = 0
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if total and n / total < min_share:
            other += n
            continue
        rows.append({"task": key, "label": task_label(key), "calls": n,
                     "share": round(n / total, 6)})  # fmt: skip
    if other:
        rows.append({"task": OTHER, "label": task_label(OTHER), "calls": other,
                     "share": round(other / total, 6)})  # fmt: skip
    return rows


def task_of_record(record: CallRecord) -> str:
    """The task key of a whole record (e.g. one evaluation answered)."""
    called = [c.function.name for c in record.response.tool_calls or []]
    return task_key(called, turn_kind(record.messages))


def tasks_text(tasks: Sequence[dict[str, Any]], limit: int = 5) -> str:
    """A cluster's largest tasks on one line: "get order details 41% · answer the user in
    text 30% · ..." (for tables that hold one line per cluster)."""
    shown = [f"{t['label']} {t['share']:.0%}" for t in tasks[:limit]]
    if len(tasks) > limit:
        shown.append(f"+{len(tasks) - limit} more")
    return " · ".join(shown)
