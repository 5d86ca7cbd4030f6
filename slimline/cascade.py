"""The cascade's arithmetic: which answers a challenger would serve at a confidence
threshold, the threshold calibrated on one split, and what it serves on another.

Pure functions over `Scored`s (one per held-out call: the adapter's confidence in its own
answer, whether the answer may be served at all, and whether it agrees with the teacher), so
that the gate's figures can be tested without models.

- `calibrate(answers, target, ...)`: the lowest confidence at which the calibration calls it
  would serve reach `target` agreement, with a guard against tiny samples: at least
  `min_served` served calls, and under rule `wilson` the Wilson lower bound of their
  agreement (not the point estimate) must reach the target.
- `serve_at(answers, threshold)`: coverage (served / all calls) and served agreement.
- `curve(answers)`: coverage and agreement at every threshold, for the MLflow figure.
- `auroc(answers)`: how well the confidence ranks right answers above wrong ones among the
  servable answers (0.5: no better than chance).
- `servable(parsed, tools, text_target, request)`: whether an answer may be served at all:
  tool calls that all parse, are valid against the request's tools and copy every
  identifier-like argument from the request (`uncopied`), or text when a text target is
  set. Evaluation and the router decide it with this one function.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from slimline.chat_format import ParsedResponse, call_is_valid, parameter_schemas

if TYPE_CHECKING:
    from slimline.record import CallRecord

Rule = Literal["point", "wilson"]


@dataclass(frozen=True)
class Scored:
    """One held-out call as the cascade sees it."""

    confidence: float  # the adapter's confidence in its own answer, 0..1
    servable: bool  # a valid tool call (or text, when a text target is set)
    agrees: bool  # the same response type as the teacher, and right (name+args, or text)


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold (None: no threshold reaches the target) and why."""

    value: float | None
    served: int  # calibration calls served at it
    agreement: float | None  # their agreement with the teacher
    reason: str


@dataclass(frozen=True)
class Served:
    """What a threshold serves on a split."""

    calls: int
    served: int
    agreed: int

    @property
    def coverage(self) -> float:
        return self.served / self.calls if self.calls else 0.0

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.served if self.served else None


def wilson_lower(agreed: int, n: int, z: float = 1.645) -> float:
    """The Wilson score lower bound of a proportion (one-sided 95% with the default z)."""
    if n == 0:
        return 0.0
    p = agreed / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def serve_at(answers: list[Scored], threshold: float | None) -> Served:
    """The answers served at `threshold` (None serves nothing)."""
    if threshold is None:
        return Served(len(answers), 0, 0)
    served = [a for a in answers if a.servable and a.confidence >= threshold]
    return Served(len(answers), len(served), sum(a.agrees for a in served))


def calibrate(
    answers: list[Scored], target: float, min_served: int = 5, rule: Rule = "point"
) -> Threshold:
    """The lowest threshold whose served calibration calls reach `target` (see the module)."""
    servable = sorted((a for a in answers if a.servable), key=lambda a: -a.confidence)
    if len(servable) < min_served:
        return Threshold(
            None, 0, None,
            f"{len(servable)} servable calibration answers, fewer than the {min_served} needed",
        )  # fmt: skip
    best: Threshold | None = None
    agreed = 0
    for i, answer in enumerate(servable, 1):
        agreed += answer.agrees
        if i < len(servable) and servable[i].confidence == answer.confidence:
            continue  # a threshold serves every answer at its confidence, ties included
        if i < min_served:
            continue
        score = agreed / i if rule == "point" else wilson_lower(agreed, i)
        if score >= target:
            best = Threshold(answer.confidence, i, agreed / i, "")
    if best is None:
        top = servable[: max(min_served, 1)]
        return Threshold(
            None, 0, None,
            f"no threshold reaches {target:.2f} agreement on at least {min_served} calibration "
            f"calls (the {len(top)} most confident agree on {sum(a.agrees for a in top)})",
        )  # fmt: skip
    what = "agreement" if rule == "point" else "Wilson lower bound of agreement"
    return Threshold(
        best.value,
        best.served,
        best.agreement,
        f"threshold {best.value:.4f}: {best.served} of {len(answers)} calibration calls served "
        f"at {best.agreement:.3f} agreement ({what} >= {target:.2f})",
    )


def curve(answers: list[Scored]) -> list[tuple[float, float, float]]:
    """(threshold, coverage, agreement) at every distinct confidence of a servable answer,
    highest threshold first."""
    points = []
    for t in sorted({a.confidence for a in answers if a.servable}, reverse=True):
        s = serve_at(answers, t)
        points.append((t, s.coverage, s.agreement or 0.0))
    return points


def auroc(answers: list[Scored]) -> float | None:
    """P(a right answer is more confident than a wrong one), over the servable answers (ties
    count half); None when either kind is missing."""
    right = [a.confidence for a in answers if a.servable and a.agrees]
    wrong = [a.confidence for a in answers if a.servable and not a.agrees]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


def servable(
    parsed: ParsedResponse,
    tools: list[dict[str, Any]] | None,
    text_target: float | None,
    request: CallRecord | None = None,
) -> bool:
    """May this answer be served? Tool calls: every block parses to a call valid against the
    request's tools (a call outside them never is) and, given the `request`, copies every
    identifier it passes from it (`uncopied`). Text: only when a text target is set, and the
    text is not empty."""
    if parsed.is_tool_call:
        schemas = parameter_schemas(tools)
        return (
            parsed.all_calls_valid
            and bool(parsed.tool_calls)
            and bool(schemas)
            and all(call_is_valid(c, schemas) for c in parsed.tool_calls)
            and not (request is not None and uncopied(parsed, request))
        )
    return text_target is not None and bool(parsed.text.strip())


# an argument value that names something (a phone number, an account or line id, a card's
# last digits, an order number): a digit among at least 4 characters
_IDENTIFIER = re.compile(r"(?=.*\d).{4,}", re.S)


def uncopied(parsed: ParsedResponse, request: CallRecord) -> list[str]:
    """The identifier-like string arguments of the answer's tool calls that appear nowhere in
    the request (its messages, earlier tool calls and results, its tools).

    A small model must copy such a value from the call it answers. One it wrote from memory
    is wrong for any other customer: an adapter trained on scrubbed calls, when scrub still
    gave a value the same surrogate in every conversation (tau2's one customer phone number),
    learnt to write that surrogate, and agreed with the scrubbed test calls while every raw
    call it served got a lookup of a number that does not exist. Scrub's surrogates are now
    per conversation (tasks/scrub/surrogates.py); such answers are still never served."""
    seen = json.dumps(
        [m.model_dump(mode="json") for m in request.messages] + [request.tools],
        ensure_ascii=False,
    )
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if _IDENTIFIER.fullmatch(value) and value not in seen:
                out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for call in parsed.tool_calls:
        walk(call.get("arguments"))
    return out
