"""The tasks inside a cluster: each call's task from what the request asks and what the
teacher did, with a label made of the words the user wrote in the agent.

A call's task key is the teacher's action on it: `call:<tool>` for a tool call (the tools
called, sorted and joined by "+"), and for a text answer `text:<turn>`, where the turn says
what the request asked (`user`: the user's message, `tool:<name>`: a tool's result, `start`:
the opening). A text answer to the user gets a topic of its own when the agent's system
prompt is constant context with markdown headings: the heading whose section is most like
the user's message (TF-IDF cosine over the prompt's sections, at least `MIN_TOPIC_SIMILARITY`),
key `text:user:<heading>`, label "answer in text: <heading>". Labels come from tool names
and prompt headings only ("get_customer_by_phone" reads "get customer by phone"), never from
the conversation's text, so no surrogate value (scrub's replacement of a name or an
address) can reach them.

`task_table` lists a cluster's tasks with their calls and share, largest first; tasks
smaller than `min_share` of the cluster are counted together as "other".
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from slimline.record import CallRecord
from slimline.tasks.cluster.signature import CallFacts, asked_text, turn_kind

OTHER = "other"
MIN_TOPIC_SIMILARITY = 0.15
HEADING_CHARS = 60
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def task_key(called_tools: Sequence[str], turn: str, topic: str = "") -> str:
    """The task of a call whose response called `called_tools` after a `turn` (turn_kind);
    `topic`: a text answer's prompt heading, if it has one."""
    if called_tools:
        return "call:" + "+".join(sorted(dict.fromkeys(called_tools)))
    if turn == "user" and topic:
        return "text:user:" + topic
    return "text:" + turn


def task_of(fact: CallFacts) -> str:
    return task_key(fact.called_tools, fact.turn, fact.topic)


def sections(prompt: str) -> list[tuple[str, str]]:
    """(heading, heading and body) of each markdown section of a system prompt."""
    out: list[tuple[str, list[str]]] = []
    for line in prompt.splitlines():
        match = _HEADING.match(line)
        if match:
            heading = re.sub(r"[*_`]+", "", match.group(1)).strip()
            if len(heading) > HEADING_CHARS:  # cut at a word
                heading = heading[:HEADING_CHARS].rsplit(" ", 1)[0] + " …"
            out.append((heading, [heading]))
        elif out:
            out[-1][1].append(line)
    return [(h, "\n".join(body)) for h, body in out if h]


class TopicFinder:
    """The prompt heading whose section is most like a user's message (or '')."""

    def __init__(self, prompt: str) -> None:
        self.headings: list[str] = []
        found = sections(prompt)
        if len(found) < 2:
            return
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
        try:
            self.matrix = self.vectorizer.fit_transform([text for _, text in found])
        except ValueError:  # no words at all
            return
        self.headings = [h for h, _ in found]

    def topics(self, texts: Sequence[str]) -> list[str]:
        if not self.headings or not texts:
            return ["" for _ in texts]
        sims = (self.vectorizer.transform(list(texts)) @ self.matrix.T).toarray()
        best = np.argmax(sims, axis=1)
        return [
            self.headings[b] if sims[i, b] >= MIN_TOPIC_SIMILARITY else ""
            for i, b in enumerate(best)
        ]


def assign_topics(facts: Sequence[CallFacts], prompts: dict[str, str]) -> None:
    """Set `topic` of the text answers to a user whose agent has a constant system prompt
    (`prompts`: its text by `context_ref`)."""
    asked: dict[str, list[CallFacts]] = defaultdict(list)
    for f in facts:
        if f.asked and f.constant_prompt and f.context_ref in prompts:
            asked[f.context_ref].append(f)
    for ref, group in asked.items():
        for f, topic in zip(group, TopicFinder(prompts[ref]).topics([f.asked for f in group]),
                            strict=True):  # fmt: skip
            f.topic = topic


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
        if rest.startswith("user:"):
            return "answer in text: " + rest.removeprefix("user:")
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


def task_of_record(
    record: CallRecord,
    known: set[str] | None = None,
    finders: dict[str, TopicFinder] | None = None,
) -> str:
    """The task key of a whole record (e.g. one evaluation answered). A text answer's topic
    is kept only when it is one of the `known` keys (the cluster's tasks: its prompt was
    constant context when the cluster stage counted it); `finders` caches the prompts'."""
    called = [c.function.name for c in record.response.tool_calls or []]
    turn = turn_kind(record.messages)
    plain = task_key(called, turn)
    asked = asked_text(record)
    if not asked or known is None:
        return plain
    prompt = next((m.text() for m in record.messages if m.role in ("system", "developer")), "")
    finders = {} if finders is None else finders
    if prompt not in finders:
        finders[prompt] = TopicFinder(prompt)
    key = task_key(called, turn, finders[prompt].topics([asked])[0])
    return key if key in known else plain


def tasks_text(tasks: Sequence[dict[str, Any]], limit: int = 5) -> str:
    """A cluster's largest tasks on one line: "get order details 41% · answer the user in
    text 30% · ..." (for tables that hold one line per cluster)."""
    shown = [f"{t['label']} {t['share']:.0%}" for t in tasks[:limit]]
    if len(tasks) > limit:
        shown.append(f"+{len(tasks) - limit} more")
    return " · ".join(shown)
