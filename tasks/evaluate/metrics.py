"""Tool-call metrics of one model's answers against the teacher's: pure functions, no models.

Each held-out call is scored by `score_example` (the model's parsed completion against the
teacher's response message); `aggregate` turns the scores into the metrics that MLflow logs
and the gate reads:

- response_type_accuracy: a tool call where the teacher called a tool, text where it answered
  in text;
- name_accuracy: over calls where the teacher called tools, the same function names (as a
  multiset: order does not matter);
- name_args_accuracy: the same calls, names and arguments, arguments compared as parsed JSON
  (key order, whitespace and 1 vs 1.0 do not matter);
- arg_f1: F1 of (function, argument, value) triples against the teacher's, averaged over the
  teacher's tool calls;
- valid_tool_call_rate: of the <tool_call> blocks the model wrote, those that parse to a JSON
  object with a known function name, object arguments and the schema's required arguments;
- text_similarity: over the teacher's text answers, the cosine of the two texts' embeddings
  (computed by the caller, see similarity.py).

A metric that has nothing to measure (no teacher tool calls, no blocks written) is None.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from slimline.chat_format import ParsedResponse, call_is_valid, parameter_schemas, reference_calls
from slimline.record import Message

QUALITY_METRICS = (
    "response_type_accuracy",
    "name_accuracy",
    "name_args_accuracy",
    "arg_f1",
    "valid_tool_call_rate",
    "text_similarity",
    "judge_score",
)

LABELS = {
    "response_type_accuracy": "response-type accuracy",
    "name_accuracy": "function-name accuracy",
    "name_args_accuracy": "name+arguments exact match",
    "arg_f1": "argument F1",
    "valid_tool_call_rate": "valid tool-call rate",
    "text_similarity": "text similarity",
    "judge_score": "judge score",
    "latency_ms": "latency per call (ms)",
    "tokens_per_s": "tokens/s",
}


@dataclass
class ExampleScore:
    """One held-out call, scored."""

    expected_tool: bool
    predicted_tool: bool
    name_correct: bool | None = None  # None when the teacher answered in text
    exact: bool | None = None
    arg_f1: float | None = None
    calls_written: int = 0
    calls_valid: int = 0
    reference_text: str | None = None  # set when the teacher answered in text
    predicted_text: str = ""

    @property
    def type_correct(self) -> bool:
        return self.expected_tool == self.predicted_tool

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "type_correct": self.type_correct}


def normalise(value: Any) -> Any:
    """JSON value with integral floats as ints, so 1 and 1.0 compare equal."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def _canon(value: Any) -> str:
    return json.dumps(normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _call_key(call: dict[str, Any]) -> str:
    return call["name"] + "\x00" + _canon(call.get("arguments", {}))


def argument_items(calls: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """(function, argument, value) triples of some calls; a call without arguments counts
    as one triple (function, "", its arguments) so that its name still scores."""
    items: Counter[tuple[str, str, str]] = Counter()
    for call in calls:
        args = call.get("arguments", {})
        if isinstance(args, dict) and args:
            items.update((call["name"], str(k), _canon(v)) for k, v in args.items())
        else:
            items[(call["name"], "", _canon(args))] += 1
    return items


def f1(predicted: Counter, reference: Counter) -> float:
    """F1 of two multisets; 1.0 when both are empty."""
    total = sum(predicted.values()) + sum(reference.values())
    if total == 0:
        return 1.0
    return 2 * sum((predicted & reference).values()) / total


def score_example(
    prediction: ParsedResponse, reference: Message, tools: list[dict[str, Any]] | None = None
) -> ExampleScore:
    """Score one completion (parsed) against the teacher's response message."""
    ref_calls = reference_calls(reference)
    schemas = parameter_schemas(tools)
    score = ExampleScore(
        expected_tool=bool(ref_calls),
        predicted_tool=prediction.is_tool_call,
        calls_written=len(prediction.tool_calls) + prediction.invalid_calls,
        calls_valid=sum(call_is_valid(c, schemas) for c in prediction.tool_calls),
        predicted_text=prediction.text,
    )
    if ref_calls:
        pred_calls = prediction.tool_calls
        score.name_correct = Counter(c["name"] for c in pred_calls) == Counter(
            c["name"] for c in ref_calls
        )
        score.exact = prediction.invalid_calls == 0 and Counter(
            map(_call_key, pred_calls)
        ) == Counter(map(_call_key, ref_calls))
        score.arg_f1 = f1(argument_items(pred_calls), argument_items(ref_calls))
    else:
        score.reference_text = reference.text().strip()
    return score


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(
    scores: list[ExampleScore],
    similarities: list[float] | None = None,
    judge_scores: list[float] | None = None,
) -> dict[str, float | None]:
    """The metrics of one model on one held-out set.

    `similarities`: one cosine per score whose teacher answered in text, in order;
    `judge_scores`: one 0..1 grade per score, when a judge graded them.
    """
    tool = [s for s in scores if s.expected_tool]
    written = sum(s.calls_written for s in scores)
    return {
        "n_examples": float(len(scores)),
        "n_tool_calls": float(len(tool)),
        "n_text": float(len(scores) - len(tool)),
        "response_type_accuracy": _mean([float(s.type_correct) for s in scores]),
        "name_accuracy": _mean([float(bool(s.name_correct)) for s in tool]),
        "name_args_accuracy": _mean([float(bool(s.exact)) for s in tool]),
        "arg_f1": _mean([s.arg_f1 or 0.0 for s in tool]),
        "valid_tool_call_rate": (sum(s.calls_valid for s in scores) / written if written else None),
        "text_similarity": _mean(list(similarities or [])),
        "judge_score": _mean(list(judge_scores or [])),
    }
