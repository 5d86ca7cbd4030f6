"""A call's task signature: what the call is for, in three short texts, and its facts.

The signature has three parts, embedded separately so each distinct text is embedded once:
- `system`: the opening of the system prompt (the agent's role and policy name);
- `tools`: the sorted set of the tool names the agent offered;
- `turn`: the latest user or tool turn (a tool result names the tool that produced it).

The system prompt and the tool set repeat in every call of an agent, so they cost one
embedding per agent; the turn is the only part that costs one per call. `CallFacts` keeps
the little the stage needs of a call (for stats, labels, the agent's identity and the call's
task) so that the records themselves need not stay in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from slimline.record import CallRecord, Message

NO_SYSTEM = "(no system prompt)"
NO_TOOLS = "tools: (none)"
NO_TURN = "(the conversation has no user or tool turn yet)"
TEXT_REPLY = "(text)"

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Signature:
    system: str
    tools: str
    turn: str


@dataclass
class CallFacts:
    """What stats and labels need of one call."""

    call_id: str
    agent: str
    timestamp: datetime
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    called_tools: list[str] = field(default_factory=list)  # tools the response called
    document: str = ""  # the text c-TF-IDF reads: the latest turn
    turn: str = "start"  # what the request asks of the model: user, tool:<name> or start
    conversation: str = ""
    context_ref: str = ""  # the first message's content hash (the system prompt's, if any)
    tool_set: str = ""  # the sorted tool names offered, comma-joined
    identity: str = ""  # the agent identity (identity.py), set once every call is read
    constant_prompt: bool = False  # its first message is the agent's constant context
    asked: str = ""  # a text answer's user message (its topic is matched against the prompt)
    topic: str = ""  # that topic: a heading of the agent's system prompt (actions.py)

    @property
    def is_tool_call(self) -> bool:
        return bool(self.called_tools)


def _squash(text: str, limit: int) -> str:
    return _SPACE.sub(" ", text).strip()[:limit]


def tool_names(record: CallRecord) -> list[str]:
    """The sorted set of tool names the request offered."""
    names = set()
    for tool in record.tools:
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        name = fn.get("name") if isinstance(fn, dict) else None
        if name:
            names.add(str(name))
    return sorted(names)


def _tool_name_of(result: Message, messages: list[Message]) -> str | None:
    """The name of the tool whose result `result` is (by tool_call_id), if it can be told."""
    if result.name:
        return result.name
    for message in messages:
        for call in message.tool_calls or []:
            if result.tool_call_id and call.id == result.tool_call_id:
                return call.function.name
    return None


def turn_kind(messages: list[Message]) -> str:
    """What the latest turn is: "user", "tool:<name>" (a tool's result) or "start"."""
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if message.role == "user":
            return "user"
        if message.role in ("tool", "function"):
            return "tool:" + (_tool_name_of(message, messages[:i]) or "?")
    return "start"


ASKED_CHARS = 400


def asked_text(record: CallRecord) -> str:
    """The user's latest message when the teacher answered it in text (else ''): what a text
    answer's topic is found from."""
    if record.response.tool_calls or not record.messages or record.messages[-1].role != "user":
        return ""
    return _squash(record.messages[-1].text(), ASKED_CHARS)


def latest_turn(record: CallRecord, limit: int) -> str:
    """The latest user or tool message, as 'user: ...' or 'tool NAME returned: ...'."""
    for i in range(len(record.messages) - 1, -1, -1):
        message = record.messages[i]
        if message.role == "user":
            return "user: " + _squash(message.text(), limit)
        if message.role in ("tool", "function"):
            name = _tool_name_of(message, record.messages[:i]) or "a tool"
            return f"tool {name} returned: " + _squash(message.text(), limit)
    return NO_TURN


def signature(record: CallRecord, system_chars: int, turn_chars: int) -> Signature:
    system = next((m.text() for m in record.messages if m.role in ("system", "developer")), "")
    names = tool_names(record)
    return Signature(
        system=_squash(system, system_chars) or NO_SYSTEM,
        tools=("tools: " + ", ".join(names)) if names else NO_TOOLS,
        turn=latest_turn(record, turn_chars),
    )


_TOOL_TURN = re.compile(r"^tool (\S+) returned: ")


def document(sig: Signature) -> str:
    """The text c-TF-IDF reads for keywords: the user's words, or the tool a result came from
    (a tool result's JSON says little a person would call a task)."""
    if sig.turn == NO_TURN:
        return "conversation start"
    match = _TOOL_TURN.match(sig.turn)
    if match:
        return "result of " + match.group(1).replace("_", " ")
    return sig.turn.removeprefix("user: ")


def facts(
    record: CallRecord,
    sig: Signature,
    *,
    conversation: str = "",
    context_ref: str = "",
    tool_set: str | None = None,
) -> CallFacts:
    """The facts of `record` (whose messages may be only its first and latest few)."""
    called = [c.function.name for c in record.response.tool_calls or []]
    return CallFacts(
        call_id=record.id,
        agent=record.agent,
        timestamp=record.timestamp,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cost_usd=record.cost_usd,
        called_tools=called,
        document=document(sig) if sig.turn else "",
        turn=turn_kind(record.messages),
        asked=asked_text(record),
        conversation=conversation,
        context_ref=context_ref,
        tool_set=",".join(tool_names(record)) if tool_set is None else tool_set,
    )
