"""The gate: thresholds, the minimum held-out size and "no worse than the champion", each
decision with reasons that name the metric and the numbers."""

from slimline.tasks.promote.config import PromoteConfig
from slimline.tasks.promote.gate import decide

GOOD = {
    "n_tool_calls": 20.0,
    "response_type_accuracy": 0.97,
    "name_accuracy": 0.96,
    "name_args_accuracy": 0.93,
    "arg_f1": 0.95,
    "valid_tool_call_rate": 1.0,
    "text_similarity": 0.81,
}
CFG = PromoteConfig()


def test_a_good_first_challenger_passes():
    d = decide(GOOD, None, 30, CFG)
    assert d.promote
    assert "name+arguments exact match (name_args_accuracy) 0.930 meets the threshold 0.900" in (
        d.reasons
    )
    assert "there is no champion to compare with" in d.reasons


def test_below_a_threshold_fails_and_says_which():
    d = decide({**GOOD, "valid_tool_call_rate": 0.95}, None, 30, CFG)
    assert not d.promote
    assert "valid tool-call rate (valid_tool_call_rate) 0.950 is below the threshold 0.980" in (
        d.reasons
    )


def test_too_small_a_heldout_set_fails():
    d = decide(GOOD, None, 6, CFG)
    assert not d.promote
    assert d.reasons[0] == "held-out set has 6 calls, fewer than the 10 required"


def test_worse_than_the_champion_fails_naming_the_metric():
    champion = {**GOOD, "text_similarity": 0.90}
    d = decide(GOOD, champion, 30, CFG)
    assert not d.promote
    assert [r for r in d.reasons if "fell" in r] == [
        "text similarity (text_similarity) fell from 0.900 (champion) to 0.810, "
        "more than the tolerance 0.010"
    ]


def test_within_the_tolerance_of_the_champion_passes():
    champion = {**GOOD, "name_args_accuracy": 0.935, "arg_f1": 0.96}
    d = decide(GOOD, champion, 30, CFG)
    assert d.promote
    assert d.reasons[-1] == "no worse than the champion on 6 metrics (tolerance 0.010)"


def test_a_challenger_that_writes_no_tool_calls_fails():
    silent = {**GOOD, "name_args_accuracy": 0.0, "valid_tool_call_rate": None}
    d = decide(silent, None, 30, CFG)
    assert not d.promote
    assert "valid tool-call rate (valid_tool_call_rate): the model wrote no tool calls at all" in (
        d.reasons
    )


def test_a_text_only_cluster_needs_a_text_threshold():
    text_only = {"n_tool_calls": 0.0, "response_type_accuracy": 1.0, "text_similarity": 0.8}
    text_only |= {"name_args_accuracy": None, "valid_tool_call_rate": None}
    assert not decide(text_only, None, 30, CFG).promote
    assert "no threshold could be applied to this held-out set" in (
        decide(text_only, None, 30, CFG).reasons
    )
    assert decide(text_only, None, 30, PromoteConfig(min_text_similarity=0.75)).promote
    assert not decide(text_only, None, 30, PromoteConfig(min_text_similarity=0.85)).promote
