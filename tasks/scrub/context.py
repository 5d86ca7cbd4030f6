"""The agent's constant context, and what may be replaced in it.

A system prompt or a list of tool schemas that repeats across many conversations
(`scrub.constant_min_conversations`, 3 by default) is the agent's constant context: its
instructions, not a customer's data. The adapters distil it and the router matches live
requests against it, so its words must stay the teacher's. In it only a real identifier
is replaced: an email on a real domain, a phone number, a card, an SSN, a public IP
address, a key, token or secret, or a type of the user's own patterns and deny lists.
Names, street addresses, zip codes, dates and name-built ids there are examples and
placeholders ("Customer Lookup", "sara_doe_496", "something@example.com").

A system prompt or tool list seen in fewer conversations is scrubbed like any message: a
per-conversation prompt may well hold the customer's name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

# types whose values are identifiers by their shape (validated by their recognizers)
IDENTIFIER_TYPES = frozenset(
    {
        "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "US_ITIN", "IBAN_CODE",
        "IP_ADDRESS", "API_KEY", "JWT", "BEARER_TOKEN", "PRIVATE_KEY", "CRYPTO", "SECRET",
        "US_BANK_NUMBER", "US_PASSPORT",
    }
)  # fmt: skip
BUILTIN_TYPES = IDENTIFIER_TYPES | {
    "PERSON", "STREET_ADDRESS", "ZIP_CODE", "DATE_OF_BIRTH", "USER_ID", "DEVICE_ID",
}  # fmt: skip
# RFC 2606/6761 names for examples and documentation
_RESERVED_DOMAIN = re.compile(
    r"(?i)(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid|localhost|local)$"
)
_PLACEHOLDER = re.compile(r"(?i)your|xxxx|\*\*\*|<|>|\{|\}|example|placeholder|dummy|redacted")


def context_key(value: Any) -> str:
    """A stable key for a system message's or a tool list's content (across runs)."""
    return hashlib.sha256(repr(value).encode("utf-8")).hexdigest()


def real_identifier(entity: str, value: str) -> bool:
    """May `value`, found as `entity`, be replaced inside the constant context?"""
    if entity not in BUILTIN_TYPES:
        return True  # the user's own patterns and deny lists: always
    if entity not in IDENTIFIER_TYPES:
        return False
    if entity == "EMAIL_ADDRESS":
        domain = value.rpartition("@")[2].strip().rstrip(".")
        return bool(domain) and not _RESERVED_DOMAIN.search(domain)
    if entity == "IP_ADDRESS":
        try:
            return ipaddress.ip_address(value.strip().split("/")[0]).is_global
        except ValueError:
            return False
    if entity == "PHONE_NUMBER":
        return sum(c.isdigit() for c in value) >= 10
    if entity in ("SECRET", "API_KEY", "BEARER_TOKEN"):
        return not _PLACEHOLDER.search(value)
    return True
