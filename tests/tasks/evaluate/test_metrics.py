"""The tool-call metrics on hand-made predictions: exact values."""

import pytest

from slimline.chat_format import call_is_valid, parse_response
from slimline.record import Message
from slimline.tasks.evaluate.metrics import aggregate, normalise, score_example

TOOLS = [
    {"type": "function", "function": {"name": "get_user", "parameters": {"required": ["user_id"]}}},
    {
        "type": "function",
        "function": {"name": "book", "parameters": {"required": ["flight", "seats"]}},
    },
]


def call(name, arguments):
    import json

    return Message(
        role="assistant",
        tool_calls=[{"id": "c", "function": {"name": name, "arguments": json.dumps(arguments)}}],
    )


def text(content):
    return Message(role="assistant", content=content)


CASES = [
    # (teacher's response, the model's completion)
    (
        call("get_user", {"user_id": "u1"}),
        '<tool_call>{"name": "get_user", "arguments": {"user_id": "u1"}}</tool_call>',
    ),
    # arguments as a JSON string, 2.0 for 2, one value wrong
    (
        call("book", {"flight": "F1", "seats": 2}),
        '<tool_call>{"name": "book", '
        '"arguments": "{\\"seats\\": 2.0, \\"flight\\": \\"F2\\"}"}</tool_call>',
    ),
    (call("get_user", {"user_id": "u2"}), "Sure, let me check."),
    (
        text("Your booking is confirmed."),
        '<tool_call>{"name": "cancel", "arguments": {}}</tool_call>',
    ),
    (text("Hello! How can I help?"), "Hello! How can I help?"),
    # right call, then a block that is not JSON
    (
        call("get_user", {"user_id": "u3"}),
        '<tool_call>{"name": "get_user", "arguments": {"user_id": "u3"}}</tool_call>\n'
        "<tool_call>{oops</tool_call>",
    ),
]


@pytest.fixture
def scores():
    return [score_example(parse_response(out), ref, TOOLS) for ref, out in CASES]


def test_each_example_is_scored(scores):
    assert [s.type_correct for s in scores] == [True, True, False, False, True, True]
    assert [s.name_correct for s in scores] == [True, True, False, None, None, True]
    assert [s.exact for s in scores] == [True, False, False, None, None, False]
    assert [s.arg_f1 for s in scores] == [1.0, 0.5, 0.0, None, None, 1.0]
    assert [(s.calls_written, s.calls_valid) for s in scores] == [
        (1, 1),
        (1, 1),
        (0, 0),
        (1, 0),
        (0, 0),
        (2, 1),
    ]
    assert scores[4].reference_text == "Hello! How can I help?"


def test_aggregate_gives_exact_values(scores):
    m = aggregate(scores, similarities=[0.5, 1.0], judge_scores=[1.0, 0.5, 0.0])
    assert m == {
        "n_examples": 6.0,
        "n_tool_calls": 4.0,
        "n_text": 2.0,
        "response_type_accuracy": 4 / 6,
        "name_accuracy": 0.75,
        "name_args_accuracy": 0.25,
        "arg_f1": 0.625,
        "valid_tool_call_rate": 0.6,
        "text_similarity": 0.75,
        "judge_score": 0.5,
    }


def test_nothing_to_measure_is_none():
    only_text = [score_example(parse_response("hi"), text("hello"))]
    m = aggregate(only_text, similarities=[0.9])
    assert m["name_args_accuracy"] is None and m["valid_tool_call_rate"] is None
    assert m["response_type_accuracy"] == 1.0 and m["text_similarity"] == 0.9


def test_validity_needs_known_name_object_arguments_and_required_keys():
    schemas = {"book": {"required": ["flight", "seats"]}}
    assert call_is_valid({"name": "book", "arguments": {"flight": "F", "seats": 1}}, schemas)
    assert not call_is_valid({"name": "book", "arguments": {"flight": "F"}}, schemas)
    assert not call_is_valid({"name": "fly", "arguments": {}}, schemas)
    assert not call_is_valid({"name": "book", "arguments": ["F", 1]}, schemas)
    assert call_is_valid({"name": "anything", "arguments": {}}, {})  # no schemas known


def test_order_of_calls_and_keys_does_not_matter():
    ref = Message(
        role="assistant",
        tool_calls=[
            {"function": {"name": "a", "arguments": '{"x": 1, "y": [1, 2]}'}},
            {"function": {"name": "b", "arguments": "{}"}},
        ],
    )
    out = (
        '<tool_call>{"name": "b", "arguments": {}}</tool_call>\n'
        '<tool_call>{"name": "a", "arguments": {"y": [1.0, 2], "x": 1}}</tool_call>'
    )
    s = score_example(parse_response(out), ref)
    assert s.exact and s.name_correct and s.arg_f1 == 1.0
    assert normalise({"a": [1.0, 2.5]}) == {"a": [1, 2.5]}
