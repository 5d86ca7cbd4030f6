"""Canary PII for the leak tests: values of every kind scrub must replace, planted into real
tau2 lines, and every form in which one could leak (as written, JSON-escaped, bare digits,
each word of an uncommon name).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

CANARIES = {
    "name": "Wilhelmina Quarrington",
    "first": "Wilhelmina",
    "last": "Quarrington",
    "email": "wilhelmina.quarrington@canary-mail.com",
    "phone": "(415) 555-0173",
    "card": "4539 1488 0343 6467",
    "ssn": "219-09-9999",
    "key": "sk-proj-CANARYzz9Qe4t7Uw1Rb8Ny3Kp6Ls0Hd2Jf5Gm",
    "street": "4417 Quarrington Crescent",
    "ip": "198.51.100.77",
    "user_id": "wilhelmina_quarrington_7741",
    # uncommon names (issue 15), in the places they leaked from: the customer's own words, a
    # customer record a tool returned, a signature
    "intro_name": "Ketevan Chikovani",
    "record_name": "Chidiebere Onwuachi",
    "signature_name": "Femke van der Poel",
}
NAME_KEYS = ("intro_name", "record_name", "signature_name")


def canary_forms() -> set[str]:
    """Each canary as written, JSON-escaped, and (for numbers) as bare digits."""
    forms = set()
    for value in CANARIES.values():
        forms |= {value, json.dumps(value)[1:-1]}
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 9:
            forms.add(digits)
    for key in NAME_KEYS:  # one word of a name left is a leak too
        forms |= {w for w in CANARIES[key].split() if len(w) >= 4}
    return forms


def plant(line: dict) -> dict:
    """A tau2 line with the canaries in the user's text, a tool result and the answer."""
    c = CANARIES
    msgs = line["request"]["messages"]
    user = next(m for m in msgs if m["role"] == "user")
    user["content"] = (
        f"Hi, this is {c['intro_name']}. {user['content']}"
        f" My name is {c['name']}, email {c['email']}, call me at {c['phone']}. "
        f"Card {c['card']}, SSN {c['ssn']}, I live at {c['street']}. My key is {c['key']} "
        f"and I log in from {c['ip']}.\n\nThanks,\n{c['signature_name']}"
    )
    msgs.append(
        {
            "role": "tool",
            "tool_call_id": "call_canary",
            "content": json.dumps(
                {
                    "user_id": c["user_id"],
                    "first_name": c["first"],
                    "last_name": c["last"],
                    "email": c["email"],
                    "phone": c["phone"],
                }
            ),
        }
    )
    msgs.append(
        {
            "role": "tool",
            "tool_call_id": "call_canary_2",
            "content": json.dumps(
                {"customer": {"name": c["record_name"], "email": c["email"], "tier": "gold"}}
            ),
        }
    )
    line["response"]["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_x",
                "type": "function",
                "function": {
                    "name": "get_user_details",
                    "arguments": json.dumps({"user_id": c["user_id"]}),
                },
            }
        ],
    }
    return line


def leaks_under(home: Path, extra: list[Path], forms: set[str]) -> list[tuple[str, str]]:
    """(file, canary) for every canary form in any byte of a file under `home` outside the
    raw store, or of the `extra` files (the Prefect API's database)."""
    files = [p for p in home.rglob("*") if p.is_file() and not p.name.startswith("raw.db")]
    found = []
    for path in [*files, *extra]:
        data = path.read_bytes()
        found += [(str(path), f) for f in forms if f.encode() in data]
    return found
