"""Reading what clustering needs of the scrubbed calls, and nothing more.

`WorkStore.iter_scrubbed()` rebuilds whole records (every message of the conversation so
far, validated). A signature needs only the first message (the system prompt), the last
few (the latest user or tool turn and the assistant call that a tool result answers), the
tool list and the response. This reader takes exactly those blobs from the scrubbed-calls
table (the work store's schema: message_refs, tools_ref, response_ref; blobs cached by hash,
so a system prompt shared by thousands of calls is decoded once) and builds a partial record
for `signature()` and `facts()`. Of a call not examined tonight it reads the latest turn
only (its task) and the tool names (its agent identity; parsed once per distinct tool list).
It reads the scrubbed table only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import TYPE_CHECKING

from sqlalchemy import select

from slimline.record import CallRecord, Message
from slimline.store import schema as s
from slimline.tasks.cluster.signature import CallFacts, Signature, facts, signature, tool_names

if TYPE_CHECKING:
    from slimline.store import WorkStore
    from slimline.tasks.cluster.config import ClusterConfig

TAIL = 8  # trailing messages read: the latest turn and the call a tool result answers
_NO_SIGNATURE = Signature(system="", tools="", turn="")


def iter_calls(
    work: WorkStore, cfg: ClusterConfig, wanted: Callable[[str], bool], batch: int = 500
) -> Iterator[tuple[CallFacts, Signature | None]]:
    """(facts, signature) of every scrubbed call in seq order; signature None unless wanted."""
    t = s.scrubbed_calls
    cols = (
        t.c.seq,
        t.c.id,
        t.c.agent,
        t.c.conversation_id,
        t.c.timestamp,
        t.c.message_refs,
        t.c.tools_ref,
        t.c.response_ref,
        t.c.prompt_tokens,
        t.c.completion_tokens,
        t.c.cost_usd,
    )
    blobs = work.calls.blobs
    tool_sets: dict[str, str] = {}  # tools_ref -> comma-joined sorted names
    last = 0
    with work.engine.connect() as conn:
        while True:
            rows = conn.execute(
                select(*cols).where(t.c.seq > last).order_by(t.c.seq).limit(batch)
            ).all()
            if not rows:
                return
            last = rows[-1].seq
            need: set[str] = set()
            for r in rows:
                need.add(r.response_ref)
                refs = r.message_refs
                need.update(refs[-TAIL:])
                if wanted(r.id):
                    need.update(refs[:1])
                if r.tools_ref and (wanted(r.id) or r.tools_ref not in tool_sets):
                    need.add(r.tools_ref)
            texts = blobs.get_many(conn, need)
            for r in rows:
                yield _one(r, texts, cfg, wanted(r.id), tool_sets)


def _latest(refs: list[str], texts: dict[str, str]) -> list[Message]:
    """The trailing messages a task needs: the last one, and the rest of the tail only when
    it is a tool result without a name (the assistant call it answers names the tool)."""
    if not refs:
        return []
    last = Message.model_validate_json(texts[refs[-1]])
    if last.role not in ("tool", "function") or last.name:
        return [last]
    return [Message.model_validate_json(texts[h]) for h in refs[-TAIL:]]


def _one(
    row: object, texts: dict[str, str], cfg: ClusterConfig, want: bool, tool_sets: dict[str, str]
) -> tuple[CallFacts, Signature | None]:
    ts = row.timestamp if row.timestamp.tzinfo else row.timestamp.replace(tzinfo=UTC)
    refs = row.message_refs
    if want:
        head = refs[:1]
        tail = refs[max(1, len(refs) - TAIL) :]
        messages = [Message.model_validate_json(texts[h]) for h in head + tail]
    else:
        messages = _latest(refs, texts)
    tools = json.loads(texts[row.tools_ref]) if want and row.tools_ref else []
    if row.tools_ref and row.tools_ref not in tool_sets:
        listed = tools or json.loads(texts[row.tools_ref])
        tool_sets[row.tools_ref] = ",".join(tool_names(_with_tools(listed)))
    record = CallRecord.model_construct(
        id=row.id,
        agent=row.agent,
        timestamp=ts,
        messages=messages,
        tools=tools,
        response=Message.model_validate_json(texts[row.response_ref]),
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
        metadata={},
    )
    known = {
        "conversation": row.conversation_id,
        "context_ref": refs[0] if refs else "",
        "tool_set": tool_sets.get(row.tools_ref, "") if row.tools_ref else "",
    }
    if not want:
        return facts(record, _NO_SIGNATURE, **known), None
    sig = signature(record, cfg.system_chars, cfg.turn_chars)
    return facts(record, sig, **known), sig


def _with_tools(tools: list[dict]) -> CallRecord:
    return CallRecord.model_construct(tools=tools)
