"""The tool-call grammar with the real llguidance and SmolLM2's tokenizer: it accepts slimline's
format as the teacher's logged answers are written, rejects calls outside the tools or
against their schemas, falls back on schemas it cannot compile, and is cached by tool set."""

from __future__ import annotations

import gzip
import json
import logging
import random

import jsonschema
from tool_caller import BOOKING_TOOLS

from slimline.chat_format import assistant_text, parse_response
from slimline.decoding import stop_token_ids
from slimline.decoding.grammar import CallRule, ToolGrammars, tool_call_lark, tool_grammars
from slimline.record import Message


def _accepts(grammars: ToolGrammars, tools, tokenizer, text: str) -> bool:
    matcher = grammars.matcher(tools)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return matcher.consume_tokens([*ids, stop_token_ids(tokenizer)[0]])


def _call(name: str, arguments: dict) -> str:
    return assistant_text(
        Message.model_validate(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)},
                    }
                ],
            }
        )
    )


def test_every_logged_tau2_answer_is_accepted_by_its_requests_grammar(smol_tokenizer, tau2_path):
    grammars = ToolGrammars(smol_tokenizer)
    kinds = {"text": 0, "tool_calls": 0}
    with gzip.open(tau2_path, "rt") as f:
        for line in f:
            call = json.loads(line)
            message = Message.model_validate(call["response"]["choices"][0]["message"])
            text = assistant_text(message)
            assert _accepts(grammars, call["request"]["tools"], smol_tokenizer, text), text
            kinds["tool_calls" if message.tool_calls else "text"] += 1
    assert kinds["text"] > 100 and kinds["tool_calls"] > 100
    assert grammars.stats.compiles == 4  # the four agents' tool sets; every other call a hit
    assert grammars.stats.hits == sum(kinds.values()) - 4


def test_calls_outside_the_tools_or_their_schemas_are_rejected(smol_tokenizer):
    grammars = ToolGrammars(smol_tokenizer)

    def ok(text: str) -> bool:
        return _accepts(grammars, BOOKING_TOOLS, smol_tokenizer, text)

    good = _call("get_booking", {"id": 7, "mode": "full"})
    assert ok(good)
    assert ok("Sure.\n" + good)  # text, then calls
    assert ok(good + "\n" + _call("cancel_booking", {"reason": "late", "refund": True}))
    assert ok("Just text, with <tags> and {braces}.")
    assert not ok(_call("delete_booking", {"id": 7}))  # not one of the tools
    assert not ok(_call("get_booking", {"id": "7"}))  # wrong type
    assert not ok(_call("get_booking", {"mode": "full"}))  # required key missing
    assert not ok(_call("get_booking", {"id": 7, "mode": "all"}))  # not in the enum
    assert not ok(_call("get_booking", {"id": 7, "extra": 1}))  # key the schema does not have
    assert not ok(_call("cancel_booking", {"reason": "late", "refund": "yes"}))
    assert not ok('<tool_call>{"name":"get_booking","arguments":{"id":7}}</tool_call>')  # style
    assert not ok(good + " and some text after")
    assert not ok("I call <tool_call>anything I like</tool_call>")  # no unconstrained calls


def _random_walk(matcher, tokenizer, rng: random.Random, prefix: str) -> str | None:
    """Consume `prefix`, then tokens the grammar allows (short ones mostly), until a stop."""
    import numpy as np

    stops = stop_token_ids(tokenizer)
    ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    assert matcher.consume_tokens(ids)
    for _ in range(400):
        bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), np.uint8), bitorder="little")
        bits = bits[: len(tokenizer)].copy()
        if bits[stops].any() and rng.random() < 0.5:
            return tokenizer.decode(ids, skip_special_tokens=True)
        bits[stops] = 0
        choices = np.flatnonzero(bits)
        token = int(rng.choice(choices if rng.random() < 0.2 else choices[:40]))
        assert matcher.consume_token(token), matcher.get_error()
        ids.append(token)
    return None


def test_a_request_that_requires_a_call_or_allows_one_gets_no_text_or_one_call(smol_tokenizer):
    grammars = ToolGrammars(smol_tokenizer)

    def ok(rule: CallRule, text: str) -> bool:
        matcher = grammars.matcher(BOOKING_TOOLS, rule)
        ids = smol_tokenizer(text, add_special_tokens=False)["input_ids"]
        return matcher.consume_tokens([*ids, stop_token_ids(smol_tokenizer)[0]])

    one = _call("get_booking", {"id": 7, "mode": "full"})
    two = one + "\n" + _call("cancel_booking", {"reason": "late", "refund": True})
    required, single = CallRule(required=True), CallRule(required=True, parallel=False)
    assert ok(required, one) and ok(required, two) and ok(single, one)
    assert not ok(required, "Just text.") and not ok(required, "Sure.\n" + one)
    assert not ok(single, two)
    assert ok(CallRule(parallel=False), "Sure.\n" + one)
    assert not ok(CallRule(parallel=False), two)
    assert grammars.stats.compiles == 3  # one per rule; the default rule's key is unchanged


def test_random_walks_through_the_grammar_only_write_valid_calls(smol_tokenizer, tau2_path):
    with gzip.open(tau2_path, "rt") as f:
        airline = next(json.loads(x) for x in f if '"tau2-airline"' in x)["request"]["tools"]
    rng = random.Random(0)
    grammars = ToolGrammars(smol_tokenizer)
    finished = 0
    for tools in (BOOKING_TOOLS, airline):
        schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
        for k in range(40):
            prefix = ["<tool_call>", "Hi.\n<tool_call>", "Text"][k % 3]
            text = _random_walk(grammars.matcher(tools), smol_tokenizer, rng, prefix)
            if text is None:
                continue
            finished += 1
            parsed = parse_response(text)
            assert parsed.all_calls_valid, text
            for call in parsed.tool_calls:
                jsonschema.validate(call["arguments"], schemas[call["name"]])
    assert finished >= 40


def test_a_schema_llguidance_rejects_falls_back_to_any_object_logged_once(smol_tokenizer, caplog):
    weird = {"type": "object", "properties": {"q": {"type": "string", "pattern": "(?=x)x"}}}
    tools = [*BOOKING_TOOLS, {"type": "function", "function": {"name": "w", "parameters": weird}}]
    grammars = ToolGrammars(smol_tokenizer)
    with caplog.at_level(logging.WARNING, logger="slimline.decoding.grammar"):
        assert _accepts(grammars, tools, smol_tokenizer, _call("w", {"anything": [1, 2]}))
        ToolGrammars(smol_tokenizer).matcher(tools)  # compiled again elsewhere: no new warning
    assert grammars.stats.fallbacks == 1
    assert sum("tool w:" in r.getMessage() for r in caplog.records) == 1
    # the other tools stay constrained
    assert not _accepts(grammars, tools, smol_tokenizer, _call("get_booking", {"id": "7"}))


def test_messy_schemas_compile_and_tools_without_names_are_skipped(smol_tokenizer):
    tools = [
        {"type": "function", "function": {"name": "no_params"}},
        {"type": "function", "function": {"name": "no_type", "parameters": {"properties": {}}}},
        {"function": {"parameters": {"type": "object"}}},  # no name
        {"name": "bare", "parameters": {"type": "object", "properties": {"n": {"type": "number"}}}},
        {
            "type": "function",
            "function": {
                "name": "union",
                "parameters": {
                    "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "required": ["a"],
                },
            },
        },
    ]
    grammars = ToolGrammars(smol_tokenizer)
    assert _accepts(grammars, tools, smol_tokenizer, _call("no_params", {"x": 1}))
    assert _accepts(grammars, tools, smol_tokenizer, _call("bare", {"n": 1.5}))
    assert _accepts(grammars, tools, smol_tokenizer, _call("union", {"a": 3}))
    assert not _accepts(grammars, tools, smol_tokenizer, _call("union", {"a": True}))
    assert grammars.stats.fallbacks == 0
    assert grammars.matcher([]) is None and grammars.matcher([{"function": {}}]) is None


def test_grammars_are_cached_by_tool_set_and_each_answer_gets_its_own_matcher(smol_tokenizer):
    grammars = ToolGrammars(smol_tokenizer, max_entries=2)
    first, second = grammars.matcher(BOOKING_TOOLS), grammars.matcher(BOOKING_TOOLS)
    assert (grammars.stats.compiles, grammars.stats.hits) == (1, 1)
    assert first.consume_tokens(smol_tokenizer("Hello", add_special_tokens=False)["input_ids"])
    assert _accepts(grammars, BOOKING_TOOLS, smol_tokenizer, _call("get_booking", {"id": 1}))
    assert second.consume_tokens(
        smol_tokenizer("<tool_call>", add_special_tokens=False)["input_ids"]
    )
    others = [[{"name": f"t{i}", "parameters": {"type": "object"}}] for i in range(2)]
    for tools in others:
        grammars.matcher(tools)
    grammars.matcher(BOOKING_TOOLS)  # evicted by the two others: compiled again
    assert grammars.stats.compiles == 4
    assert tool_grammars(smol_tokenizer) is tool_grammars(smol_tokenizer)
    assert tool_call_lark(BOOKING_TOOLS) == tool_call_lark(json.loads(json.dumps(BOOKING_TOOLS)))
