"""An optional LLM judge behind any OpenAI-compatible chat-completions URL (off by default).

The judge sees the last turn of the (scrubbed) request, the teacher's answer and the
candidate's answer, both in slimline's text format, and replies with a grade from 1 to 5;
the grade is scaled to 0..1 (1 -> 0.0, 5 -> 1.0). A reply without a grade counts as
unjudged and is left out of the mean. Nothing is sent unless `evaluate.judge_url` is set.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

SYSTEM = (
    "You grade a candidate assistant reply against a reference reply to the same request. "
    "Tool calls are written as <tool_call>{json}</tool_call>. Reply with one digit from 1 "
    "(wrong or useless) to 5 (equivalent to the reference), nothing else."
)
_GRADE = re.compile(r"\b([1-5])\b")


@dataclass
class JudgeItem:
    """What the judge sees of one held-out call."""

    request: str
    reference: str
    candidate: str


def _chat_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def parse_grade(text: str) -> float | None:
    """The 0..1 score of a judge's reply, or None when it holds no grade."""
    match = _GRADE.search(text or "")
    return None if match is None else (int(match.group(1)) - 1) / 4


def judge(
    items: list[JudgeItem],
    url: str,
    model: str,
    api_key_env: str = "JUDGE_API_KEY",
    timeout_s: float = 60.0,
) -> list[float | None]:
    """One 0..1 grade per item (None where the judge gave none or failed)."""
    import httpx

    headers = {}
    if os.environ.get(api_key_env):
        headers["Authorization"] = f"Bearer {os.environ[api_key_env]}"
    grades: list[float | None] = []
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        for n, item in enumerate(items):
            body = {
                "model": model,
                "temperature": 0,
                "max_tokens": 4,
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {
                        "role": "user",
                        "content": f"Request (last turn):\n{item.request}\n\n"
                        f"Reference reply:\n{item.reference}\n\n"
                        f"Candidate reply:\n{item.candidate}\n\nGrade (1-5):",
                    },
                ],
            }
            try:
                resp = client.post(_chat_url(url), json=body)
                resp.raise_for_status()
                content = resp.json()["choices"][0]["message"].get("content") or ""
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                log.warning("judge request %d failed: %s", n, exc)
                grades.append(None)
                continue
            grades.append(parse_grade(content))
    return grades
