"""The gate on coverage: a challenger passes when, on its test calls, it serves at least
`min_coverage` at the calibrated threshold, what it serves agrees with the teacher at the
target, and it serves no less than the champion; each decision says why in numbers."""

from slimline.tasks.evaluate.result import EvalReport
from slimline.tasks.promote.config import PromoteConfig
from slimline.tasks.promote.gate import decide

CFG = PromoteConfig(min_coverage=0.05, target_agreement=0.9, agreement_tolerance=0.05)


def report(coverage=0.25, agreement=0.93, served=12, threshold=0.61, n=48) -> EvalReport:
    return EvalReport(
        cluster_id=1,
        slug="telecom",
        n_examples=n,
        n_calibration=40,
        threshold=threshold,
        calibration={"reason": "no threshold reaches 0.90 agreement on at least 5 calls"},
        cascade={
            "challenger": {"coverage": coverage, "served_agreement": agreement, "served": served}
        },
    )


def test_a_first_challenger_that_serves_enough_passes():
    d = decide(report(), None, CFG)
    assert d.promote
    assert "serves 25.0% of 48 test calls (12), at least 5.0%" in d.reasons
    assert any("agree with the teacher on 0.930" in r for r in d.reasons)
    assert "there is no champion to compare with" in d.reasons


def test_below_min_coverage_is_kept_out_and_the_reason_says_so():
    d = decide(report(coverage=0.02, served=1), None, CFG)
    assert not d.promote
    assert "serves 2.0% of 48 test calls (1), below promote.min_coverage 5.0%" in d.reasons


def test_no_threshold_means_nothing_served():
    d = decide(report(coverage=0.0, agreement=None, served=0, threshold=None), None, CFG)
    assert not d.promote
    assert d.reasons[0].startswith("no confidence threshold reaches 0.90 agreement: no threshold")


def test_served_calls_below_the_target_fail():
    d = decide(report(agreement=0.80), None, CFG)
    assert not d.promote
    assert any("agree with the teacher on 0.800, below 0.90 - 0.05" in r for r in d.reasons)
    assert decide(report(agreement=0.86), None, CFG).promote  # within the stated tolerance


def test_against_the_champion_on_the_same_calls():
    more = decide(report(coverage=0.30), {"coverage": 0.25}, CFG)
    assert more.promote and "serves no less than the champion's 25.0%" in more.reasons
    less = decide(report(coverage=0.20), {"coverage": 0.25}, CFG)
    assert not less.promote
    assert "serves 20.0%, less than the champion's 25.0% (tolerance 1.0%)" in less.reasons


def test_too_small_a_test_split_fails():
    d = decide(report(n=6), None, CFG)
    assert not d.promote
    assert d.reasons[0] == "the test split has 6 calls, fewer than the 10 required"
