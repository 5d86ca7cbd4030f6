"""What a person reads about a cluster: its label, slug, dominant tools and stats.

- label: the agent, the c-TF-IDF keywords and the dominant tools, e.g.
  "tau2-retail · order details (get_order_details, get_user_details)". Keywords come from
  the users' turns, which scrub may have rewritten (a surrogate name), so only keywords made
  of words the user wrote in the agent itself are kept: its tool names and schemas, and its
  system prompt when that is constant context (`context_words`); with none left, the words
  of the tool the cluster calls most;
- slug: the cluster's registered-model name in MLflow: lowercase [a-z0-9-], at most 60
  characters, unique, given once and never changed;
- stats (the `clusters.stats` JSON the report and train stages read): calls, share_calls,
  share_cost, share_tool_calls (the cluster's share of all tool-call responses),
  tool_call_rate (share of its own calls answered with a tool call), median prompt and
  response tokens, cost_usd, and calls per agent.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from slimline.tasks.cluster.signature import CallFacts

SLUG_MAX = 60
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def dominant_agent(members: Sequence[CallFacts]) -> str:
    counts = Counter(f.agent for f in members)
    return counts.most_common(1)[0][0] if counts else "unknown"


def dominant_tools(members: Sequence[CallFacts], limit: int) -> list[str]:
    """The tools the cluster's responses call most, most called first."""
    counts = Counter(name for f in members for name in dict.fromkeys(f.called_tools))
    return [name for name, _ in counts.most_common(limit)]


def topic_phrase(keywords: Sequence[str]) -> str:
    """Two or three words for the label: a two-word keyword among the top three, or the top two."""
    for kw in keywords[:3]:
        if " " in kw:
            return kw
    words: list[str] = []
    for kw in keywords:
        for word in kw.split():
            if word not in words:
                words.append(word)
        if len(words) >= 2:
            break
    return " ".join(words[:2]) or "calls"


def label(agent: str, keywords: Sequence[str], tools: Sequence[str], text_share: float) -> str:
    shown = list(tools[:2])
    if text_share >= 0.5 or not shown:
        shown.append("text replies")
    return f"{agent} · {topic_phrase(keywords)} ({', '.join(shown)})"


_WORD = re.compile(r"[a-z][a-z]+")


def context_words(system_prompt: str | None, tools: Sequence[dict[str, Any]]) -> set[str]:
    """The lowercase words of an agent's own text: tool names (split at "_"), their schemas,
    and the system prompt (pass None unless it is the agent's constant context)."""
    text = json.dumps(list(tools), ensure_ascii=False) + " " + (system_prompt or "")
    return set(_WORD.findall(text.lower()))


def agent_keywords(keywords: Sequence[str], words: set[str], tools: Sequence[str]) -> list[str]:
    """The keywords all of whose words the agent's own text has; with none, the words of
    the first of `tools` (the tool the cluster calls most)."""
    kept = [kw for kw in keywords if all(w in words for w in kw.lower().split())]
    if kept or not tools:
        return kept
    return [" ".join(_WORD.findall(tools[0].lower()))] if _WORD.search(tools[0].lower()) else []


def slugify(text: str) -> str:
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "cluster"


def unique_slug(agent: str, keywords: Sequence[str], cluster_id: int, taken: Iterable[str]) -> str:
    """A slug for a new cluster that no other cluster has (its id appended when needed)."""
    taken = set(taken)
    base = slugify(f"{agent} {topic_phrase(keywords)}")
    if base not in taken:
        return base
    suffix = f"-{cluster_id}"
    return base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix


def _median(values: Iterable[int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(statistics.median(known)) if known else None


def cluster_stats(
    members: Sequence[CallFacts], totals: dict[str, float], top_tools: int = 3
) -> dict[str, Any]:
    """The stats of one cluster; `totals` are over every scrubbed call (see `totals_of`)."""
    calls = len(members)
    cost = sum(f.cost_usd or 0.0 for f in members)
    tool_calls = sum(1 for f in members if f.is_tool_call)
    return {
        "calls": calls,
        "share_calls": round(calls / totals["calls"], 6) if totals["calls"] else 0.0,
        "cost_usd": round(cost, 6),
        "share_cost": round(cost / totals["cost"], 6) if totals["cost"] else 0.0,
        "tool_calls": tool_calls,
        "share_tool_calls": round(tool_calls / totals["tool_calls"], 6)
        if totals["tool_calls"]
        else 0.0,
        "tool_call_rate": round(tool_calls / calls, 6) if calls else 0.0,
        "median_prompt_tokens": _median(f.prompt_tokens for f in members),
        "median_response_tokens": _median(f.completion_tokens for f in members),
        "agents": dict(Counter(f.agent for f in members).most_common()),
        "top_tools": dominant_tools(members, top_tools),
    }


def totals_of(facts: Iterable[CallFacts]) -> dict[str, float]:
    calls = cost = tool_calls = 0.0
    for f in facts:
        calls += 1
        cost += f.cost_usd or 0.0
        tool_calls += 1 if f.is_tool_call else 0
    return {"calls": calls, "cost": cost, "tool_calls": tool_calls}
