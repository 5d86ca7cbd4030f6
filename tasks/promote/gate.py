"""The promotion gate: the one place that decides whether a challenger becomes champion.

slimline serves the part of a cluster's calls its small model is sure of (the cascade,
slimline/cascade.py) and sends the rest to the LLM. The gate asks of a challenger, on the
TEST split of the held-out conversations (never the calls its threshold was chosen on):
1. enough test calls (`min_heldout`);
2. a calibrated threshold exists (the calibration calls reached `target_agreement`);
3. at that threshold it serves at least `min_coverage` of the test calls;
4. the calls it serves agree with the teacher at `target_agreement` or better, within
   `agreement_tolerance`;
5. it serves no less than the champion does at its own threshold on the same calls, within
   `tolerance` (when there is a champion).
Every rule adds a reason in words that names the figures, passed or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slimline.tasks.evaluate.result import EvalReport
from slimline.tasks.promote.config import PromoteConfig


@dataclass
class Decision:
    """The gate's verdict and why."""

    promote: bool
    reasons: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "; ".join(self.reasons)


def decide(
    report: EvalReport, champion: dict[str, float | None] | None, config: PromoteConfig
) -> Decision:
    """Whether `report`'s challenger replaces the champion. `champion` is the champion's
    cascade on the same test calls (`coverage`, `served_agreement`), or its tagged figures
    when it was not measured beside the challenger; None when there is no champion."""
    ok = True
    reasons: list[str] = []
    n = report.n_examples
    if n < config.min_heldout:
        ok = False
        reasons.append(
            f"the test split has {n} calls, fewer than the {config.min_heldout} required"
        )
    ours = report.cascade.get("challenger", {})
    if report.threshold is None:
        ok = False
        why = report.calibration.get("reason") or "no calibration"
        reasons.append(
            f"no confidence threshold reaches {config.target_agreement:.2f} agreement: {why}"
        )
    else:
        reasons.append(
            f"threshold {report.threshold:.4f} calibrated on {report.n_calibration} calls"
        )
    coverage = float(ours.get("coverage") or 0.0)
    served = int(ours.get("served") or 0)
    if coverage < config.min_coverage:
        ok = False
        reasons.append(
            f"serves {coverage:.1%} of {n} test calls ({served}), below promote.min_coverage "
            f"{config.min_coverage:.1%}"
        )
    else:
        reasons.append(
            f"serves {coverage:.1%} of {n} test calls ({served}), at least "
            f"{config.min_coverage:.1%}"
        )
    agreement = ours.get("served_agreement")
    floor = config.target_agreement - config.agreement_tolerance
    if served and agreement is not None:
        if agreement < floor:
            ok = False
            reasons.append(
                f"the served test calls agree with the teacher on {agreement:.3f}, below "
                f"{config.target_agreement:.2f} - {config.agreement_tolerance:.2f}"
            )
        else:
            reasons.append(
                f"the served test calls agree with the teacher on {agreement:.3f} (target "
                f"{config.target_agreement:.2f}, tolerance {config.agreement_tolerance:.2f})"
            )
    if champion is None:
        reasons.append("there is no champion to compare with")
    else:
        theirs = float(champion.get("coverage") or 0.0)
        if coverage < theirs - config.tolerance:
            ok = False
            reasons.append(
                f"serves {coverage:.1%}, less than the champion's {theirs:.1%} (tolerance "
                f"{config.tolerance:.1%})"
            )
        else:
            reasons.append(f"serves no less than the champion's {theirs:.1%}")
    return Decision(promote=ok, reasons=reasons)
