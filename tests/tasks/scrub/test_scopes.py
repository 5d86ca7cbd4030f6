"""Surrogates are scoped per conversation: one surrogate for a value everywhere in its
conversation (messages, tool arguments, tool results, every call), another in the next
conversation, the same on every run; the context (system prompt, tools) scrubs alike in
every conversation, and what it shares with a conversation stays consistent in the call."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from slimline.record import CallRecord
from slimline.store import RawStore
from slimline.tasks.scrub.cache import ScrubCache
from slimline.tasks.scrub.scrubber import Scrubber
from slimline.tasks.scrub.surrogates import Surrogates, shared_keys

KEY = "3c" * 32
NAME, FIRST, LAST = "Tamar Kvaratskhelia", "Tamar", "Kvaratskhelia"  # Georgian
PHONE = "555-123-2002"
EMAIL = "tamar.kvaratskhelia@gmail.com"
DESK = "escalations@adeyemi-telecom.com"  # in the system prompt and in answers
SYSTEM = (
    "You are the support assistant of Adeyemi Telecom. Find the customer by phone before "
    f"any change. Escalations go to Oluwaseun Adeyemi at {DESK}."
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "find_customer",
            "description": "Find a customer by phone number.",
            "parameters": {"type": "object", "properties": {"phone": {"type": "string"}}},
        },
    }
]


def calls(conv: str) -> list[CallRecord]:
    """Two calls of one conversation: the lookup, then the answer after the tool result."""
    user = {"role": "user", "content": f"Hi, this is {NAME}. My number is {PHONE}."}
    call = {
        "id": f"call_{conv}",
        "type": "function",
        "function": {"name": "find_customer", "arguments": json.dumps({"phone": PHONE})},
    }
    asked = {"role": "assistant", "content": None, "tool_calls": [call]}
    found = {"name": NAME, "email": EMAIL, "phone": PHONE, "plan": "Unlimited"}
    result = {"role": "tool", "tool_call_id": f"call_{conv}", "content": json.dumps(found)}
    answer = f"Thanks {FIRST}, found you. For more, write to {DESK}."

    def build(messages: list[dict], response: dict) -> CallRecord:
        return CallRecord.build(
            source="adeyemi.jsonl",
            agent="adeyemi-support",
            timestamp=datetime(2026, 12, 1, tzinfo=UTC),
            model="gpt-x",
            conversation_id=conv,
            messages=[{"role": "system", "content": SYSTEM}, *messages],
            tools=TOOLS,
            response=response,
        )

    return [
        build([user], asked),
        build([user, asked, result], {"role": "assistant", "content": answer}),
    ]


def scrub(records: list[CallRecord], config, cache: ScrubCache | None = None) -> list[CallRecord]:
    scrubber = Scrubber(config, KEY, cache)
    try:
        scrubber.learn(records)
        out = [scrubber.scrub(r) for r in records]
        scrubber.end_window()
        return out
    finally:
        scrubber.close()


def values(rec: CallRecord) -> dict[str, str]:
    """What the scrubbed call holds where the raw one held the customer's values."""
    user = rec.messages[1].text()
    phone_in_text = re.search(r"My number is (\S+)\.", user)
    name_in_text = re.search(r"this is (\S+ \S+)\.", user)
    assert phone_in_text and name_in_text
    out = {
        "text_phone": phone_in_text.group(1),
        "text_name": name_in_text.group(1),
        "system": rec.messages[0].text(),
    }
    asked = rec.messages[2] if len(rec.messages) > 2 else rec.response
    out["arg_phone"] = json.loads(asked.tool_calls[0].function.arguments)["phone"]
    if len(rec.messages) > 3:
        found = json.loads(rec.messages[3].text())
        out |= {"result_phone": found["phone"], "result_name": found["name"]}
        out["result_email"] = found["email"]
        answer = rec.response.text()
        thanks = re.search(r"Thanks (\S+),.* write to (\S+)\.$", answer)
        assert thanks
        out["answer_first"], out["answer_desk"] = thanks.groups()
    return out


def test_one_surrogate_per_conversation_another_in_the_next(analyzer, scrub_config):
    a1, a2, b1, b2 = (values(r) for r in scrub([*calls("conv-a"), *calls("conv-b")], scrub_config))
    for first, second in ((a1, a2), (b1, b2)):
        # every copy in the conversation: user text, tool arguments, tool result, two calls
        phones = {first["text_phone"], first["arg_phone"], second["text_phone"]}
        phones |= {second["arg_phone"], second["result_phone"]}
        assert len(phones) == 1 and PHONE not in phones
        assert first["text_name"] == second["text_name"] == second["result_name"] != NAME
        # name words agree with the full name, and the email's name parts with both
        new_first, new_last = second["result_name"].split()
        assert second["answer_first"] == new_first != FIRST
        assert second["result_email"].startswith(f"{new_first.lower()}.{new_last.lower()}@")
    assert a2["result_phone"] != b2["result_phone"]
    assert a2["result_name"].split()[0] != b2["result_name"].split()[0]
    assert a2["result_name"].split()[1] != b2["result_name"].split()[1]
    assert a2["result_email"] != b2["result_email"]


def test_the_same_input_scrubs_the_same(analyzer, scrub_config):
    records = [*calls("conv-a"), *calls("conv-b")]
    first = [r.model_dump(mode="json") for r in scrub(records, scrub_config)]
    assert first == [r.model_dump(mode="json") for r in scrub(records, scrub_config)]


def test_a_shared_system_prompt_scrubs_alike_and_its_values_stay_in_the_call(
    analyzer, scrub_config
):
    """Two conversations are below the constant-context threshold, so the prompt's name is
    replaced: still with the same (global) surrogate in both, and its email keeps the
    surrogate it has in the prompt in the conversation's answer."""
    a1, a2, b1, b2 = (values(r) for r in scrub([*calls("conv-a"), *calls("conv-b")], scrub_config))
    assert a1["system"] == a2["system"] == b1["system"] == b2["system"]
    assert "Oluwaseun" not in a1["system"] and DESK not in a1["system"]
    assert a2["answer_desk"] == b2["answer_desk"] != DESK
    assert a2["answer_desk"] in a1["system"]


def test_the_cache_hands_no_surrogate_across_conversations(analyzer, scrub_config, tmp_path):
    """Conversations scrubbed in separate runs that share the cache (known values and
    placeholder numbers) still differ, and a conversation scrubbed again is the same."""
    raw = RawStore(f"sqlite:///{tmp_path / 'raw.db'}")
    try:
        for operator in ("surrogate", "placeholder"):
            config = scrub_config.model_copy(update={"operator": operator})
            cache = ScrubCache(raw, KEY, config.fingerprint())
            a = values(scrub(calls("conv-a"), config, cache)[1])
            b = values(scrub(calls("conv-b"), config, cache)[1])
            again = values(scrub(calls("conv-a"), config, cache)[1])
            assert a["result_phone"] != b["result_phone"], operator
            assert a["result_name"] != b["result_name"], operator
            assert again == a, operator
        assert re.fullmatch(r"<PHONE_\d+>", a["result_phone"])
    finally:
        raw.close()


def test_surrogates_of_a_conversation_and_the_global_ones():
    s = Surrogates(KEY)
    a, b = s.in_conversation("conv-a"), s.in_conversation("conv-b")
    assert a.replace("PHONE_NUMBER", PHONE) != b.replace("PHONE_NUMBER", PHONE)
    assert a.replace("PHONE_NUMBER", PHONE) == Surrogates(KEY).in_conversation("conv-a").replace(
        "PHONE_NUMBER", "(555) 123-2002"
    ).replace("(", "").replace(") ", "-")
    assert s.in_conversation(None) is s
    full = a.replace("PERSON", NAME)
    assert a.replace("PERSON", FIRST) == full.split()[0] != b.replace("PERSON", FIRST)
    # a value of the call's context keeps its global surrogate, a name word by word
    shared = frozenset(shared_keys("PERSON", NAME) | shared_keys("PHONE_NUMBER", PHONE))
    ctx = s.in_conversation("conv-a", shared)
    assert ctx.replace("PHONE_NUMBER", PHONE) == s.replace("PHONE_NUMBER", PHONE)
    assert ctx.replace("PERSON", FIRST) == s.replace("PERSON", FIRST)
    assert (
        ctx.replace("EMAIL_ADDRESS", EMAIL).split("@")[0]
        == s.replace("EMAIL_ADDRESS", EMAIL).split("@")[0]
    )
    assert ctx.replace("PERSON", "Nodar") == a.replace("PERSON", "Nodar")
