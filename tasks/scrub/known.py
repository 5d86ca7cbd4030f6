"""Values known to be PII, found again where they mean the same thing.

A value found once (under a JSON key like `zip`, or by a recognizer) is replaced again
where it occurs later, so copies stay copies: the user who typed "my zip is 32169" before
the agent looked the account up, or a phone number inside a bill's line item. How far a
value reaches depends on how specific it is:

- identifiers (emails, phones, cards, keys, ids with digits, street addresses) and full
  names ("Nodar Tsiklauri") are the same thing in every conversation: found everywhere;
- a single name word ("Nodar"), a zip code, a date of birth, a secret that is a plain word
  are found again only in the conversation they were seen in: elsewhere "Max", "32169" or
  "sunshine" are as likely something else;
- a common word is never looked for again ("Lookup", "password", "del"): it is replaced
  only where it was found as PII.

Names are matched as written (or in capitals), emails in any case, everything else
exactly, always on word boundaries ("Don" is not found in "Don't").
"""

from __future__ import annotations

import re

from slimline.tasks.scrub import names
from slimline.tasks.scrub.spans import Span

_WORD = re.compile(r"[^\W_]+")
_NAME_TOKEN = re.compile(r"[^\W\d_]+")
_APOSTROPHES = "'’"
# types whose values are as specific as a conversation, not more
CONVERSATION_TYPES = frozenset({"ZIP_CODE", "DATE_OF_BIRTH"})

Known = tuple[str, str, str | None]  # (entity, value, conversation or None for everywhere)


class _Index:
    """Values with a word index, to find them in text quickly."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}  # value -> entity
        self._index: dict[str, list[tuple[str, str, int]]] | None = None

    def add(self, entity: str, value: str) -> bool:
        if value in self.values:
            return False
        self.values[value] = entity
        self._index = None
        return True

    def find(self, text: str) -> list[Span]:
        if not self.values:
            return []
        if self._index is None:
            self._index = {}
            for value, entity in self.values.items():
                m = _WORD.search(value)
                if m:
                    self._index.setdefault(m.group().lower(), []).append((value, entity, m.start()))
        out: list[Span] = []
        for m in _WORD.finditer(text):
            for value, entity, offset in self._index.get(m.group().lower(), ()):
                start = m.start() - offset
                end = start + len(value)
                if start < 0 or end > len(text) or not _same(entity, text[start:end], value):
                    continue
                if _joined(text, start, end):
                    continue
                out.append((start, end, entity, 1.0))
        return out


class KnownValues:
    """The values of one scrub: those found everywhere, and those of each conversation."""

    def __init__(self) -> None:
        self.everywhere = _Index()
        self.conversations: dict[str, _Index] = {}

    def __len__(self) -> int:
        return len(self.everywhere.values) + sum(len(c.values) for c in self.conversations.values())

    def add(self, entity: str, value: str, conversation: str | None = None) -> bool:
        """Remember `value` as `entity` (in `conversation` only, if given) if it is specific
        enough to look for; True if new."""
        value = value.strip()
        if not _specific(entity, value):
            return False
        if conversation is None:
            return self.everywhere.add(entity, value)
        if value in self.everywhere.values:
            return False
        return self.conversations.setdefault(conversation, _Index()).add(entity, value)

    def learn(self, entity: str, value: str, conversation: str | None) -> list[Known]:
        """Remember a value found in `conversation` (None: found in the constant context,
        where only identifiers are learnt, and for everywhere). A name is learnt whole
        (everywhere, when it has two words or more) and word by word (in its
        conversation). Returns what was new."""
        if conversation is None:
            if entity != "PERSON" and self.add(entity, value):
                return [(entity, value, None)]
            return []
        new: list[Known] = []

        def keep(e: str, v: str, everywhere: bool) -> None:
            scope = None if everywhere else conversation
            if self.add(e, v, scope):
                new.append((e, v.strip(), scope))

        if entity == "PERSON":
            tokens = [
                t
                for t in _NAME_TOKEN.findall(value)
                if not names.is_particle(t) and t.lower() not in names.TITLES
            ]
            for token in tokens:
                keep("PERSON", token, False)
            if len(tokens) > 1:
                keep("PERSON", value, True)
            return new
        keep(entity, value, _everywhere(entity, value))
        return new

    def find(self, text: str, conversation: str | None = None) -> list[Span]:
        """Every occurrence in `text` of a value known everywhere or in `conversation`."""
        found = self.everywhere.find(text)
        scoped = self.conversations.get(conversation) if conversation is not None else None
        return found + scoped.find(text) if scoped else found


def _everywhere(entity: str, value: str) -> bool:
    """Does a value of this kind mean the same thing in every conversation?"""
    if entity in CONVERSATION_TYPES:
        return False
    if entity in ("SECRET", "USER_ID", "DEVICE_ID"):
        return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    return True


def _joined(text: str, start: int, end: int) -> bool:
    """Is text[start:end] part of a longer word ("Don" in "Don't", "Mia" in "Mia2")?"""
    if start > 0 and _inner(text[start - 1]):
        return True
    if end < len(text) and _inner(text[end]):
        return True
    if end + 1 < len(text) and text[end] in _APOSTROPHES and text[end + 1].isalpha():
        return True  # a contraction or a possessive-less suffix: "Don't", "Max'll"
    return start > 1 and text[start - 1] in _APOSTROPHES and text[start - 2].isalpha()


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
            return (
                low not in names.common_words()
                and low not in names.TITLES
                and not names.is_particle(low)
            )
        return True
    return not (letters and not digits and value.lower() in names.common_words())
