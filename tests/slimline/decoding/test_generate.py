"""Generation with confidence and the teacher-forced scorer, on real (tiny and SmolLM2) models:
the reported probabilities are the model's own (equal to a teacher-forced pass, also under a
grammar), batching keeps order and figures, tools constrain every call, adapters switch."""

from __future__ import annotations

import gzip
import json
import random

import jsonschema
import pytest
from tool_caller import BOOKING_TOOLS, LESSONS, booking_prompt

from slimline.chat_format import parse_response
from slimline.decoding import Generation, generate, score_answers

PROMPTS = [[{"role": "user", "content": "hi " * n + "there"}] for n in (3, 0, 7, 1, 12)]


def _close(a: list[float], b: list[float], tol: float = 1e-4) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_probabilities_equal_a_teacher_forced_pass_of_the_same_tokens(tiny):
    model, tok = tiny
    gen = generate(model, tok, PROMPTS, max_new_tokens=12, batch_size=3)
    assert isinstance(gen, Generation) and gen.new_tokens == [12] * 5 and gen.tokens_per_s > 0
    scored = score_answers(model, tok, PROMPTS, [a.token_ids for a in gen.answers], batch_size=2)
    for made, forced in zip(gen.answers, scored, strict=True):
        assert made.token_ids == forced.token_ids and made.text == forced.text
        assert _close(made.token_probs, forced.token_probs)
        assert made.end_prob is None  # cut at max_new_tokens: no stop chosen
        assert 0.0 < forced.end_prob < 1.0  # the scorer always says how likely a stop was
        assert made.confidence == pytest.approx(forced.confidence, abs=1e-4)
    assert gen.confidences == [a.confidence for a in gen.answers]


def test_scoring_text_equals_scoring_its_tokens_and_keeps_the_order(tiny):
    model, tok = tiny
    answers = ["Hello there.", '<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>', ""]
    prompts = PROMPTS[:3]
    by_text = score_answers(model, tok, prompts, answers, batch_size=3)
    ids = [tok(a, add_special_tokens=False)["input_ids"] for a in answers]
    by_ids = score_answers(model, tok, prompts, ids, batch_size=1)
    assert [a.text for a in by_text] == answers
    for x, y in zip(by_text, by_ids, strict=True):
        assert _close(x.token_probs, y.token_probs) and x.end_prob == pytest.approx(y.end_prob)
    assert by_text[1].spans and not by_text[0].spans  # the call's name and value tokens
    assert by_text[2].token_probs == [] and by_text[2].confidence == 0.0


def test_batching_keeps_each_prompts_answer_in_its_place(tiny):
    model, tok = tiny
    batched = generate(model, tok, PROMPTS, max_new_tokens=6, batch_size=4)
    alone = [generate(model, tok, [p], max_new_tokens=6, batch_size=1).answers[0] for p in PROMPTS]
    firsts = [a.token_probs[0] for a in alone]
    assert len(set(round(p, 7) for p in firsts)) == len(PROMPTS)  # each prompt tells apart
    for a, b in zip(batched.answers, alone, strict=True):
        assert a.token_ids == b.token_ids and _close(a.token_probs, b.token_probs, 1e-5)


def test_a_dora_adapter_decodes_with_its_norms_cached_and_the_cache_goes_with_the_call(tiny):
    import torch
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import dora

    base, tok = tiny
    torch.manual_seed(5)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], use_dora=True,
                        init_lora_weights=False)  # fmt: skip
    model = get_peft_model(base, config, adapter_name="d")
    layers = [m for m in model.modules() if hasattr(m, "_dora_cache")]
    seen = []
    try:
        gen = generate(model, tok, PROMPTS, max_new_tokens=8, batch_size=2, adapter="d",
                       progress=lambda done, total: seen.append(sum(map(len, (
                           m._dora_cache for m in layers)))))  # fmt: skip
        assert layers and seen and all(n > 0 for n in seen)  # cached while decoding
        assert all(not m._dora_cache for m in layers) and not dora.ENABLE_DORA_CACHING
        # the same tokens and probabilities as a pass without any cache
        forced = score_answers(model, tok, PROMPTS, [a.token_ids for a in gen.answers], adapter="d")
        for made, again in zip(gen.answers, forced, strict=True):
            assert made.token_ids == again.token_ids and _close(made.token_probs, again.token_probs)
    finally:
        model.unload()


def test_the_named_adapter_answers_and_the_previous_one_comes_back(tiny):
    import torch
    from peft import LoraConfig, get_peft_model

    base, tok = tiny
    torch.manual_seed(3)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, config, adapter_name="one")
    try:
        model.add_adapter("two", config)
        prompt = PROMPTS[:1]
        a = generate(model, tok, prompt, max_new_tokens=4, batch_size=1, adapter="one").answers[0]
        b = generate(model, tok, prompt, max_new_tokens=4, batch_size=1, adapter="two").answers[0]
        assert model.active_adapter == "one"
        assert not _close(a.token_probs, b.token_probs, 1e-6)
        model.set_adapter("two")
        again = generate(model, tok, prompt, max_new_tokens=4, batch_size=1).answers[0]
        assert _close(again.token_probs, b.token_probs, 1e-6)
        forced = score_answers(model, tok, prompt, [a.token_ids], adapter="one")[0]
        assert _close(forced.token_probs, a.token_probs) and model.active_adapter == "two"
    finally:
        model.unload()  # the session's tiny model, without the adapters, for the other tests
    with pytest.raises(ValueError, match="no adapters"):
        generate(base, tok, PROMPTS[:1], max_new_tokens=1, batch_size=1, adapter="one")


def _invalid_calls(text: str) -> int:
    """Calls that a request offering BOOKING_TOOLS must never receive."""
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in BOOKING_TOOLS}
    parsed = parse_response(text)
    bad = parsed.invalid_calls
    for call in parsed.tool_calls:
        if call["name"] not in schemas or not isinstance(call["arguments"], dict):
            bad += 1
            continue
        try:
            jsonschema.validate(call["arguments"], schemas[call["name"]])
        except jsonschema.ValidationError:
            bad += 1
    return bad


@pytest.mark.slow
def test_constrained_the_tool_caller_never_writes_an_invalid_call(tool_caller):
    model, tok = tool_caller
    rng = random.Random(7)
    prompts = [booking_prompt(verb, rng.randrange(10, 999)) for verb in LESSONS for _ in range(8)]
    free = generate(model, tok, prompts, max_new_tokens=48, batch_size=8)
    assert sum(_invalid_calls(t) for t in free.texts) > 0  # so the next check could fail
    tools = [BOOKING_TOOLS] * len(prompts)
    constrained = generate(model, tok, prompts, max_new_tokens=48, batch_size=8, tools=tools)
    finished = [a for a in constrained.answers if a.end_prob is not None]
    assert len(finished) >= 0.9 * len(prompts)
    assert sum("<tool_call>" in a.text for a in finished) >= len(prompts) // 2
    for answer in finished:
        assert _invalid_calls(answer.text) == 0, answer.text
    # the probabilities are the model's own, before the grammar's mask
    forced = score_answers(model, tok, prompts, [a.token_ids for a in constrained.answers])
    for made, again in zip(constrained.answers, forced, strict=True):
        assert _close(made.token_probs, again.token_probs)


def _lookup(number: str) -> dict:
    arguments = json.dumps({"phone_number": number})
    function = {"name": "get_customer_by_phone", "arguments": arguments}
    return {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": function}],
    }


@pytest.mark.slow
def test_smollm2_calls_a_real_telecom_tool_and_its_confidence_sits_on_the_values(tau2_path):
    from slimline.chat_format import to_plain_messages
    from slimline.models import DEFAULT_BASE_MODEL, load_model
    from slimline.record import Message

    with gzip.open(tau2_path, "rt") as f:
        call = next(json.loads(x) for x in f if '"tau2-telecom"' in x)
    tools = call["request"]["tools"][:3]  # get_customer_by_phone, _by_id, _by_name
    conversation = [  # one earlier lookup, so that the base model answers with a call
        {"role": "system", "content": "You are a telecom support agent."},
        {"role": "user", "content": "My phone number is 555-000-1111. Please find my account."},
        _lookup("555-000-1111"),
        {"role": "tool", "tool_call_id": "c1", "content": '{"customer_id": "C1001"}'},
        {"role": "assistant", "content": "Found you. Anything else?"},
        {"role": "user", "content": "My wife's number is 555-123-2002. Please find her account."},
    ]
    prompt = to_plain_messages([Message.model_validate(m) for m in conversation], tools)
    model, tok = load_model(DEFAULT_BASE_MODEL)
    gen = generate(model, tok, [prompt], max_new_tokens=48, batch_size=1, tools=[tools])
    made = gen.answers[0]
    assert made.end_prob is not None and gen.grammar_seconds > 0
    parsed = parse_response(made.text)
    assert parsed.all_calls_valid and parsed.tool_calls, made.text
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    for tool_call in parsed.tool_calls:
        jsonschema.validate(tool_call["arguments"], schemas[tool_call["name"]])
    # the tool signal looks at the name's and the values' tokens only
    picked = [tok.decode(made.token_ids[a:b]).strip() for a, b in made.spans]
    assert picked[0] == parsed.tool_calls[0]["name"] and len(picked) == 2
    forced = score_answers(model, tok, [prompt], [made.token_ids])[0]
    assert _close(made.token_probs, forced.token_probs, 1e-4)
    assert made.end_prob == pytest.approx(forced.end_prob, abs=1e-4)
