"""The promotion gate: the one place that decides whether a challenger becomes champion.

A challenger passes when
1. its held-out set has at least `min_heldout` calls;
2. it meets every threshold in the config that its held-out set can measure:
   name+arguments exact match and valid tool-call rate (when the teacher made tool calls),
   text similarity and response-type accuracy (when configured);
3. at least one threshold applied (a set with nothing to measure cannot pass);
4. it is no worse than the current champion, within `tolerance`, on each quality metric
   both were measured on.
Every rule adds a reason in words that names the metric and the numbers, passed or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slimline.tasks.evaluate.metrics import LABELS, QUALITY_METRICS
from slimline.tasks.promote.config import PromoteConfig

Metrics = dict[str, float | None]


@dataclass
class Decision:
    """The gate's verdict and why."""

    promote: bool
    reasons: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "; ".join(self.reasons)


def _name(metric: str) -> str:
    return f"{LABELS.get(metric, metric)} ({metric})"


def _thresholds(config: PromoteConfig) -> list[tuple[str, float]]:
    rules: list[tuple[str, float | None]] = [
        ("name_args_accuracy", config.min_name_args_accuracy),
        ("valid_tool_call_rate", config.min_valid_tool_call_rate),
        ("text_similarity", config.min_text_similarity),
        ("response_type_accuracy", config.min_response_type_accuracy),
    ]
    return [(m, t) for m, t in rules if t is not None]


def decide(
    challenger: Metrics,
    champion: Metrics | None,
    n_heldout: int,
    config: PromoteConfig,
) -> Decision:
    """Whether `challenger` replaces `champion` (None: there is none), with the reasons."""
    ok = True
    reasons: list[str] = []
    if n_heldout < config.min_heldout:
        ok = False
        reasons.append(
            f"held-out set has {n_heldout} calls, fewer than the {config.min_heldout} required"
        )
    applied = 0
    for metric, minimum in _thresholds(config):
        value = challenger.get(metric)
        if value is None:
            if metric == "valid_tool_call_rate" and (challenger.get("n_tool_calls") or 0) > 0:
                ok = False
                reasons.append(f"{_name(metric)}: the model wrote no tool calls at all")
            else:
                reasons.append(f"{_name(metric)}: nothing to measure in the held-out set")
            continue
        applied += 1
        if value < minimum:
            ok = False
            reasons.append(f"{_name(metric)} {value:.3f} is below the threshold {minimum:.3f}")
        else:
            reasons.append(f"{_name(metric)} {value:.3f} meets the threshold {minimum:.3f}")
    if applied == 0:
        ok = False
        reasons.append("no threshold could be applied to this held-out set")
    if champion is None:
        reasons.append("there is no champion to compare with")
    else:
        compared, worse = 0, False
        for metric in QUALITY_METRICS:
            theirs, ours = champion.get(metric), challenger.get(metric)
            if theirs is None:
                continue
            if ours is None:
                ok, worse = False, True
                reasons.append(
                    f"{_name(metric)}: the champion has {theirs:.3f}, the challenger none"
                )
                continue
            compared += 1
            if ours < theirs - config.tolerance:
                ok, worse = False, True
                reasons.append(
                    f"{_name(metric)} fell from {theirs:.3f} (champion) to {ours:.3f}, "
                    f"more than the tolerance {config.tolerance:.3f}"
                )
        if not worse:
            reasons.append(
                f"no worse than the champion on {compared} metrics "
                f"(tolerance {config.tolerance:.3f})"
            )
    return Decision(promote=ok, reasons=reasons)
