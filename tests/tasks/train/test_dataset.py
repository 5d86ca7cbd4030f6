"""The per-cluster SFT dataset (and the prompts it shares with evaluation and serving,
slimline/prompt.py) on real tau2 calls and the real SmolLM2 tokenizer."""

from __future__ import annotations

import pytest

from slimline import chat_format
from slimline import prompt as pr
from slimline.record import CallRecord, Message
from slimline.tasks.train import dataset as ds

MAX_SEQ_LEN = 768  # the demo profile's


@pytest.fixture(scope="session")
def tokenizer(smollm_tokenizer):
    return smollm_tokenizer


@pytest.fixture(scope="session")
def airline(tau2_airline) -> list[CallRecord]:
    return tau2_airline


@pytest.fixture(scope="session")
def context(airline) -> pr.DistilledContext:
    return pr.distilled_context(airline)


@pytest.fixture(scope="session")
def built(airline, context, tokenizer) -> ds.DatasetBuild:
    return ds.build_dataset(airline, context, tokenizer, MAX_SEQ_LEN)


def _with_system(record: CallRecord, system: str, tools: list | None = None) -> CallRecord:
    messages = [Message(role="system", content=system), *record.messages[1:]]
    return record.model_copy(
        update={"messages": messages, "tools": record.tools if tools is None else tools}
    )


# --- the distilled context ----------------------------------------------------------------
def test_distilled_context_is_the_shared_system_prompt_and_tools(airline, context, tmp_path):
    assert context.share == 1.0
    assert context.system_prompt == airline[0].messages[0].text()
    assert context.text == chat_format.system_text(context.system_prompt, context.tools)
    assert len(context.tools) == len(airline[0].tools) > 5
    assert pr.DistilledContext.load(tmp_path) is None
    context.save(tmp_path)
    assert pr.DistilledContext.load(tmp_path) == context
    with pytest.raises(ValueError, match="hash"):
        pr.DistilledContext.from_dict({**context.to_dict(), "hash": "0" * 64})
    odd = _with_system(airline[0], "Another policy.")
    mixed = pr.distilled_context([*airline[:3], odd])
    assert mixed.hash == context.hash and mixed.share == 0.75


def test_distilled_context_is_absent_where_it_matches_and_present_otherwise(
    airline, context, tokenizer, built
):
    for example in built.examples:
        assert all(m["role"] != "system" for m in example["prompt"])
        assert not any(context.system_prompt[:300] in m["content"] for m in example["prompt"])
    assert built.distilled == len(built.examples)
    record = airline[40]
    # a different, short context: present whole
    short = _with_system(record, "You are a terse airline agent.", tools=[])
    prompt = pr.prompt_messages(short, context, tokenizer, MAX_SEQ_LEN)
    assert prompt[0] == {"role": "system", "content": "You are a terse airline agent."}
    # a different policy with the cluster's tools: present, its start kept (it is too long)
    other = _with_system(record, "You are a strict airline agent.")
    prompt = pr.prompt_messages(other, context, tokenizer, MAX_SEQ_LEN)
    assert prompt[0]["role"] == "system"
    assert prompt[0]["content"].startswith("You are a strict airline agent.\n\n# Tools")
    # no distilled context: the cluster's own system prompt is kept (cut to fit)
    prompt = pr.prompt_messages(record, None, tokenizer, MAX_SEQ_LEN)
    assert prompt[0]["content"].startswith(context.system_prompt[:200])


# --- compaction ---------------------------------------------------------------------------
def _trl_lengths(tokenizer, example) -> tuple[list[int], list[int]]:
    """Token ids of the prompt and of prompt+completion, tokenized the way TRL does."""
    prompt = tokenizer.apply_chat_template(
        example["prompt"], tokenize=True, return_dict=True, add_generation_prompt=True
    )["input_ids"]
    whole = tokenizer.apply_chat_template(
        example["prompt"] + example["completion"], tokenize=True, return_dict=True
    )["input_ids"]
    return prompt, whole


def test_every_example_fits_and_keeps_the_latest_turns(airline, built, tokenizer):
    by_id = {r.id: r for r in airline}
    assert len(built.examples) == len(airline) and built.dropped == 0
    for rid, example in zip(built.record_ids, built.examples, strict=True):
        prompt_ids, whole = _trl_lengths(tokenizer, example)
        assert len(whole) <= MAX_SEQ_LEN
        assert whole[: len(prompt_ids)] == prompt_ids  # TRL masks exactly the prompt
        plain = chat_format.to_plain_messages(
            by_id[rid].messages, by_id[rid].tools, system_override=""
        )
        kept = example["prompt"]
        suffix = plain[len(plain) - len(kept) :]  # the latest turns, in order
        assert [m["role"] for m in kept] == [m["role"] for m in suffix]
        for mine, theirs in zip(kept, suffix, strict=True):
            if mine["content"].startswith(pr.TRIM_MARK):  # a lone turn cut to fit
                assert theirs["content"].endswith(mine["content"][len(pr.TRIM_MARK) :][-40:])
            else:
                assert mine == theirs
        if kept[0]["role"] == "tool":
            pytest.fail(f"{rid}: a tool result was separated from its tool call")
    assert built.trimmed > len(built.examples) // 2


def test_compaction_shrinks_the_examples(built):
    assert built.tokens_before_median > 4000
    assert built.tokens_after_median < 600
    assert built.tokens_before_p90 > built.tokens_after_p90
    assert built.tokens_after_max <= MAX_SEQ_LEN
    assert set(built.stats()) >= {"tokens_before_median", "tokens_after_median", "dropped"}


def test_evaluation_prompts_equal_training_prompts(airline, built, context, tokenizer):
    by_id = {r.id: r for r in airline}
    counter = pr.token_counter(tokenizer)
    checked = 0
    for rid, example in zip(built.record_ids[::7], built.examples[::7], strict=True):
        if counter.estimate(example["completion"]) > pr.DEFAULT_RESERVE:
            continue  # a long completion took room from the history in training
        assert pr.prompt_messages(by_id[rid], context, tokenizer, MAX_SEQ_LEN) == example["prompt"]
        checked += 1
    assert checked > 20


def test_a_lone_turn_too_long_is_cut_keeping_its_end(airline, context, tokenizer):
    record = airline[10]
    huge = "start " + "lorem ipsum " * 3000 + "the end"
    messages = [*record.messages, Message(role="user", content=huge)]
    record = record.model_copy(update={"messages": messages})
    prompt = pr.prompt_messages(record, context, tokenizer, MAX_SEQ_LEN)
    assert prompt == [{"role": "user", "content": prompt[0]["content"]}]
    assert prompt[0]["content"].startswith(pr.TRIM_MARK)
    assert prompt[0]["content"].endswith("the end")
    assert pr.token_counter(tokenizer).exact(prompt) <= MAX_SEQ_LEN - pr.DEFAULT_RESERVE


def test_a_request_with_no_message_left_gets_an_empty_turn(airline, context, tokenizer):
    first = airline[0].model_copy(update={"messages": airline[0].messages[:1]})
    assert pr.prompt_messages(first, context, tokenizer, MAX_SEQ_LEN) == [pr.EMPTY_TURN]


# --- completions and the build --------------------------------------------------------------
def test_completion_is_the_teachers_response_and_parses_back(airline, built):
    by_id = {r.id: r for r in airline}
    tool_calls = 0
    for rid, example in zip(built.record_ids, built.examples, strict=True):
        response = by_id[rid].response
        [completion] = example["completion"]
        assert completion == {"role": "assistant", "content": chat_format.assistant_text(response)}
        parsed = chat_format.parse_response(completion["content"])
        assert parsed.tool_calls == chat_format.reference_calls(response)
        assert parsed.all_calls_valid
        assert parsed.text == response.text().strip()
        tool_calls += bool(parsed.tool_calls)
    assert 0 < tool_calls < len(built.examples)


def test_build_is_deterministic_and_drops_what_cannot_fit(airline, context, tokenizer, built):
    again = ds.build_dataset(airline[:30], context, tokenizer, MAX_SEQ_LEN)
    assert again.examples == built.examples[:30]
    assert again.digest == ds.build_dataset(airline[:30], context, tokenizer, MAX_SEQ_LEN).digest
    assert again.digest != built.digest
    long_reply = airline[5].model_copy(
        update={"response": Message(role="assistant", content="word " * 900)}
    )
    small = ds.build_dataset([long_reply, airline[6]], context, tokenizer, MAX_SEQ_LEN)
    assert small.dropped == 1 and small.dropped_ids == [long_reply.id]
    assert small.record_ids == [airline[6].id]


def test_a_base_model_with_the_catalog_template_gets_fitting_prompts(airline, tokenizer):
    """A tokenizer without a chat template (a base model's) takes its catalog entry's."""
    import copy

    from slimline.tasks.select import catalog as select

    gemma = next(e for e in select.shipped_catalog() if e.id == "gemma-3-270m")
    assert select.prepare_tokenizer(tokenizer, gemma) is tokenizer  # it has its own: kept
    base = copy.deepcopy(tokenizer)
    base.chat_template = None
    with pytest.raises(select.SelectionError, match="no chat template"):
        select.prepare_tokenizer(
            base, select.CatalogEntry(**{**gemma.model_dump(), "chat_template": None})
        )
    select.prepare_tokenizer(base, gemma)
    records = airline[20:32]
    built = ds.build_dataset(records, pr.distilled_context(records), base, 512)
    assert len(built.examples) == len(records)
    for example in built.examples:
        prompt_ids, whole = _trl_lengths(base, example)
        assert len(whole) <= 512 and whole[: len(prompt_ids)] == prompt_ids
    text = base.apply_chat_template(
        built.examples[0]["prompt"], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<end_of_turn>\n<start_of_turn>model\n")
