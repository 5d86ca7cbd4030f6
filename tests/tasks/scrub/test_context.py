"""The agent's constant context (a system prompt and tool schemas repeated across
conversations) keeps its words; the conversations around it are scrubbed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from slimline.record import CallRecord
from slimline.tasks.scrub.scrubber import Scrubber

KEY = "7a" * 32

SYSTEM = """# Acme Mobile support assistant

You are the virtual assistant of Acme Mobile. Be concise. Don't make assumptions about what
the customer wants: ask. May the customer ask for a manager, transfer the chat.

## Customer Lookup
Identify the customer with `find_customer` (phone number or email) before any change.
Never reveal the password or the secret answer; a password reset goes through
`reset_password`. Grant a goodwill credit (max $10) only after an outage over 24 hours.

## Billing
- Refunds for charges of the last cycles only (max 6 months back).
- Summer Unlimited and Travel Max plans cannot be combined.
- Customers writing in Spanish get answers in Spanish: "el plan del cliente", "la factura
  del mes". Will Acme charge roaming? Only outside the Americas.

## Mark as Solved
When the customer confirms, call `close_ticket`. Questions: support@acme-mobile.example.
"""

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "find_customer",
            "description": "Customer Lookup: find a customer by phone number or email.",
            "parameters": {
                "type": "object",
                "properties": {
                    "phone": {"type": "string", "description": "As the customer gives it"},
                    "email": {"type": "string", "description": "e.g. someone@example.com"},
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "reset_password",
            "description": "Send a password reset link. Never ask for the password or the "
            "secret answer. Don't use it for business accounts.",
            "parameters": {
                "type": "object",
                "properties": {
                    "customer_id": {"type": "string", "description": "e.g. sara_doe_496"},
                    "channel": {"type": "string", "enum": ["sms", "email"], "default": "sms"},
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "list_charges",
            "description": "Charges of a line (max 6 months). Dates as YYYY-MM-DD.",
            "parameters": {
                "type": "object",
                "properties": {"months": {"type": "integer", "description": "max 6"}},
            },
        },
    },
]

CUSTOMERS = [
    ("Max Okafor", "max.okafor@gmail.com", "(415) 555-0134"),
    ("Don Castillo", "don.castillo@outlook.com", "(312) 555-0177"),
    ("Grant Whitfield", "g.whitfield@fastmail.example.org", "(206) 555-0150"),
    ("Rosa del Valle", "rosa.delvalle@gmail.com", "(305) 555-0112"),
]


def conversation(n: int, name: str, email: str, phone: str) -> CallRecord:
    record = {"customer_id": f"C-{n}", "name": name, "email": email, "phone": phone}
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Hi, this is {name}. My number is {phone}."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{n}",
                    "type": "function",
                    "function": {
                        "name": "find_customer",
                        "arguments": json.dumps({"phone": phone}),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": f"call_{n}", "content": json.dumps(record)},
    ]
    return CallRecord.build(
        source="acme.jsonl",
        agent="acme-support",
        timestamp=datetime(2026, 12, 1, tzinfo=UTC),
        model="gpt-x",
        conversation_id=f"acme-{n}",
        messages=messages,
        tools=TOOLS,
        response={"role": "assistant", "content": f"Thanks {name.split()[0]}, found you."},
    )


def scrub(calls: list[CallRecord], scrub_config) -> list[CallRecord]:
    scrubber = Scrubber(scrub_config, KEY)
    try:
        scrubber.learn(calls)
        return [scrubber.scrub(c) for c in calls]
    finally:
        scrubber.close()


def test_the_constant_context_is_unchanged_and_the_conversations_are_scrubbed(
    analyzer, scrub_config
):
    calls = [conversation(n, *c) for n, c in enumerate(CUSTOMERS)]
    out = scrub(calls, scrub_config)
    for raw, new in zip(calls, out, strict=True):
        assert new.messages[0].content == SYSTEM
        assert new.tools == TOOLS
        said = [m.model_dump_json() for m in [*new.messages[1:], new.response]]
        name, email, phone = CUSTOMERS[int(raw.conversation_id.split("-")[1])]
        for value in (*name.replace(" del ", " ").split(), email, phone):
            assert not [m for m in said if value in m], value


def test_a_prompt_seen_once_keeps_its_ordinary_words(analyzer, scrub_config):
    """Below the constant-context threshold the prompt is scrubbed like any message (the
    conversation's own names and emails would be replaced in it): still, its ordinary
    words stay."""
    (new,) = scrub([conversation(0, *CUSTOMERS[0])], scrub_config)
    prompt = new.messages[0].content
    kept = ["## Customer Lookup", "(max 6 months back)", "password", "secret answer"]
    kept += ["Don't make assumptions", "el plan del cliente", "## Mark as Solved"]
    for words in kept:
        assert words in prompt, words
    schemas = json.dumps(new.tools)
    for words in ("Customer Lookup", "(max 6 months)", "password", "secret", "Don't"):
        assert words in schemas, words
