"""An agent's identity: what tells one agent's calls from another's, before any topic model.

Two calls belong to the same agent only when their constant context is the same: the agent
name (when the source gives one), the set of tool names offered, and the system prompt. The
system prompt counts by its content hash when it is the agent's constant context in scrub's
sense (tasks/scrub/context.py: the same first message seen in at least
`scrub.constant_min_conversations` conversations); a prompt seen in fewer conversations is
per-conversation text (a date, a customer's name: scrub may have rewritten it), so such
calls share the identity "(agent, tools, varied prompt)" instead of one each.

The cluster stage fits its topic model within one identity's calls at a time and assigns a
call only to a cluster of its own identity, so two agents are never in one cluster however
alike their tools and policies read.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

from slimline.tasks.cluster.signature import CallFacts

VARIED_PROMPT = "(varied)"


def identity_of(agent: str, tool_set: str, prompt: str) -> str:
    """A short stable key of an agent identity."""
    text = "\x1f".join((agent, tool_set, prompt))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def assign_identities(facts: Sequence[CallFacts], min_conversations: int) -> None:
    """Set each call's `identity`, counting conversations per first message over `facts`."""
    conversations: dict[str, set[str]] = defaultdict(set)
    for f in facts:
        conversations[f.context_ref].add(f.conversation)
    for f in facts:
        constant = len(conversations[f.context_ref]) >= min_conversations
        prompt = f.context_ref if constant and f.context_ref else VARIED_PROMPT
        f.constant_prompt = prompt != VARIED_PROMPT
        f.identity = identity_of(f.agent, f.tool_set, prompt)


def cluster_identity(members: Iterable[CallFacts]) -> str | None:
    """The identity most of a cluster's calls have (None for an empty cluster)."""
    counts: dict[str, int] = defaultdict(int)
    for f in members:
        counts[f.identity] += 1
    return max(counts, key=lambda k: (counts[k], k)) if counts else None
