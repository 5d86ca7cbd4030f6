"""Values known to be PII, found again wherever they occur.

A value found once (under a JSON key like `zip`, or by a recognizer) is PII in every other
string too: the user who typed "my zip is 32169" before the agent looked the account up,
or a phone number inside a bill's line item. Replacing every occurrence is what keeps
copies consistent: the value the teacher copies into a tool call is replaced by the same
surrogate in the conversation it was copied from.

Names are matched as written (or in capitals), emails in any case, everything else exactly,
always on word boundaries.
"""

from __future__ import annotations

import re

from slimline.tasks.scrub import names
from slimline.tasks.scrub.spans import Span

_WORD = re.compile(r"[^\W_]+")
_NAME_TOKEN = re.compile(r"[^\W\d_]+")


class KnownValues:
    """A set of (value, entity) with a word index to find them in text quickly."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}  # value -> entity
        self._index: dict[str, list[tuple[str, str, int]]] | None = None

    def __len__(self) -> int:
        return len(self.values)

    def add(self, entity: str, value: str) -> bool:
        """Remember `value` as `entity` if it is specific enough to look for; True if new."""
        value = value.strip()
        if not _specific(entity, value) or value in self.values:
            return False
        self.values[value] = entity
        self._index = None
        return True

    def learn(self, entity: str, value: str) -> None:
        """Remember a found value; for names, also each name token in it."""
        if entity == "PERSON":
            tokens = _NAME_TOKEN.findall(value)
            for token in tokens:
                if names.is_name(token) or len(tokens) == 1:
                    self.add("PERSON", token)
            if len(tokens) > 1:
                self.add("PERSON", value)
            return
        self.add(entity, value)

    def _build(self) -> dict[str, list[tuple[str, str, int]]]:
        index: dict[str, list[tuple[str, str, int]]] = {}
        for value, entity in self.values.items():
            m = _WORD.search(value)
            if m:
                index.setdefault(m.group().lower(), []).append((value, entity, m.start()))
        return index

    def find(self, text: str) -> list[Span]:
        """Every occurrence of a known value in `text`, as spans."""
        if not self.values:
            return []
        if self._index is None:
            self._index = self._build()
        index = self._index
        out: list[Span] = []
        for m in _WORD.finditer(text):
            candidates = index.get(m.group().lower())
            if not candidates:
                continue
            for value, entity, offset in candidates:
                start = m.start() - offset
                end = start + len(value)
                if start < 0 or end > len(text):
                    continue
                piece = text[start:end]
                if not _same(entity, piece, value):
                    continue
                if (start > 0 and _inner(text[start - 1])) or (
                    end < len(text) and _inner(text[end])
                ):
                    continue
                out.append((start, end, entity, 1.0))
        return out


def _inner(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _same(entity: str, piece: str, value: str) -> bool:
    if piece == value:
        return True
    if entity == "PERSON":
        return piece == value.upper() and len(value) > 2
    if entity in ("EMAIL_ADDRESS", "USER_ID"):
        return piece.lower() == value.lower()
    return False


def _specific(entity: str, value: str) -> bool:
    """Is `value` specific enough that finding it elsewhere means the same thing?"""
    if len(value) < 3 or len(value) > 2000:
        return False
    digits = sum(c.isdigit() for c in value)
    letters = sum(c.isalpha() for c in value)
    if letters == 0 and digits < 4:
        return False  # "12", "2024" are everywhere
    if entity == "PERSON":
        tokens = _NAME_TOKEN.findall(value)
        if not tokens:
            return False
        if len(tokens) == 1:
            low = tokens[0].lower()
            return low not in names.common_words() and low not in names.TITLES
        return True
    return not (letters and not digits and value.lower() in names.common_words())
