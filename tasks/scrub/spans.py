"""Spans, the unit every part of scrub speaks: (start, end, entity, score) over one string,
and how overlapping spans are settled (`resolve`)."""

from __future__ import annotations

Span = tuple[int, int, str, float]

# who wins when two hits overlap: lower first, then the longer, then the surer
PRIORITY = {
    "PRIVATE_KEY": 0, "JWT": 0, "API_KEY": 0, "BEARER_TOKEN": 1, "SECRET": 1,
    "EMAIL_ADDRESS": 2, "USER_ID": 3, "CREDIT_CARD": 3, "IBAN_CODE": 3, "US_SSN": 4,
    "US_ITIN": 4, "IP_ADDRESS": 4, "STREET_ADDRESS": 5, "PHONE_NUMBER": 5, "CRYPTO": 5,
    "DEVICE_ID": 5, "DATE_OF_BIRTH": 6, "US_PASSPORT": 6, "US_BANK_NUMBER": 6, "ZIP_CODE": 7,
    "PERSON": 8,
}  # fmt: skip
CUSTOM_PRIORITY = 2  # types of the user's own patterns and deny lists
CUE_ENTITY = "PERSON_CUE"  # a name a phrase announced ("my name is ..."): PERSON once kept


def resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans, sorted: on overlap the higher-priority type wins, then the
    longer span, then the higher score."""
    order = sorted(
        spans,
        key=lambda s: (PRIORITY.get(s[2], CUSTOM_PRIORITY), s[0] - s[1], -s[3], s[0]),
    )
    taken: list[Span] = []
    for span in order:
        if all(span[1] <= t[0] or span[0] >= t[1] for t in taken):
            taken.append(span)
    return sorted(taken)


def shift(spans: list[Span], offset: int) -> list[Span]:
    """Spans found in a piece of a string, as spans of the whole string."""
    return [(s + offset, e + offset, entity, score) for s, e, entity, score in spans]
