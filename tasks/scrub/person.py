"""Judging a name hit: is this span a person's name, and where exactly does the name start
and end? Pure functions over the text, shared by the analyzer's filters and slimline's
name recognizers; what counts as a name is in names.py.
"""

from __future__ import annotations

import re

from slimline.tasks.scrub import names

NAME_CUE = re.compile(
    r"(?i)(?:\bname\s*(?:is|was|:|=|-)|\bnamed|\bcalled|\bi\s*am|\bi'm|\bi’m|\bthis\s+is|\bmr|"
    r"\bmrs|\bms|\bmiss|\bdr|\bpassengers?|\bcustomer|\btraveler|\btraveller|\bcontact|"
    r"\bfriend|\bwife|\bhusband|\bson|\bdaughter|\bmother|\bfather|\bdear|\bhi|\bhello)"
    r"\W{0,3}$"
)
_STATE_AFTER = re.compile(r",?\s+[A-Z]{2}\b(?!\w)")
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_NEXT_WORD = re.compile(r"[ \t]+((?:'t|[^\W\d_]+(?:['’-][^\W\d_]+)*))(?![\w-])")


def _common(word: str) -> bool:
    return word.lower() in names.common_words()


def plausible_person(text: str, start: int, end: int, strict: bool = False) -> bool:
    """spaCy's small model calls many product names and UI labels people ("Water Bottle",
    "Airplane Mode"): keep a PERSON hit if most of its words are known names, or if it has
    no common word and a cue before it ("my name is"). `strict` (for what spaCy called an
    organisation): two or three words, mostly known names, the first a first name."""
    tokens = [t for t in WORD.findall(text[start:end]) if not names.is_particle(t)]
    if not tokens or len(tokens) > 4:
        return False
    known = sum(names.is_name(t) for t in tokens)
    if len(tokens) > 1 and surname_after_name(tokens[-2], tokens[-1]):
        known += 1  # "Abigail Green": a surname that is also a word
    if len(tokens) > 1 and name_before_surname(tokens[0], tokens[1]):
        known += _common(tokens[0])  # "June Bates"
    if strict:
        return (
            2 <= len(tokens) <= 3
            and known * 2 >= len(tokens)
            and (names.is_first_name(tokens[0]) or known == len(tokens))
            and not any(_common(t) for t in tokens[:-1])
        )
    cue = bool(NAME_CUE.search(text[max(0, start - 30) : start]))
    if len(tokens) == 1 and _STATE_AFTER.match(text, end):
        return False  # "Austin, TX": a city
    if len(tokens) == 1:  # a lone surname is more often a street or a brand ("Oak")
        return names.is_first_name(tokens[0]) or (cue and not _common(tokens[0]))
    if known * 2 >= len(tokens):  # "Mei Patel", not "Smartphone Pro Max"
        return True
    if any(_common(t) for t in tokens[1:-1]):
        return False
    return cue


def name_runs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The parts of a name hit that can be a name: runs of capitalised words (with "de",
    "van" ... inside), without the common words spaCy lets into its edges. spaCy's spans
    sometimes swallow a phone number or a greeting: "+1-415-867-7950x581 Luc Bouchet"."""
    words = list(WORD.finditer(text, start, end))
    if words and not any(w.group()[0].isupper() for w in words):
        runs = [words]  # a name written in lower case: keep it whole
    else:
        runs, current = [], []
        for w in words:
            gap = text[current[-1].end() : w.start()] if current else ""
            word = w.group()
            joins = not current or (gap.strip() == "" and "\n" not in gap)
            if (word[0].isupper() and joins) or (names.is_particle(word) and current and joins):
                current.append(w)
            else:
                runs.append(current)
                current = [w] if word[0].isupper() else []
        runs.append(current)
    out = []
    for run in runs:
        while run and (_common(run[0].group()) or names.is_particle(run[0].group())):
            if len(run) > 1 and name_before_surname(run[0].group(), run[1].group()):
                break  # "June Bates": a first name that is also a word
            run = run[1:]
        while run and (_common(run[-1].group()) or names.is_particle(run[-1].group())):
            if len(run) > 1 and surname_after_name(run[-2].group(), run[-1].group()):
                break  # "Abigail Green", "Marian Day": the surname is a word too
            run = run[:-1]
        if run:
            out.append((run[0].start(), run[-1].end()))
    return out


def surname_after_name(before: str, word: str) -> bool:
    return word.lower() in names.last_names() and names.is_first_name(before)


def name_before_surname(word: str, after: str) -> bool:
    return word.lower() in names.first_names() and names.is_name(after)


def extend_name(text: str, start: int, end: int, limit: int = 6) -> tuple[int, int]:
    """A name hit grown over the words right after it that continue a name: capitalised
    words that are no common words, and particles followed by one ("Isolde Grein" ->
    "Isolde Grein Groth", "Jan" -> "Jan van der Berg"), up to `limit` words in all."""
    words = len(text[start:end].split())
    while words < limit:
        grown, pos, added = None, end, 0
        while words + added < limit:
            m = _NEXT_WORD.match(text, pos)
            if not m:
                break
            word = m.group(1)
            if names.is_particle(word):
                pos, added = m.end(), added + 1
                continue
            if word[0].isupper() and not _common(word):
                grown, added = m.end(), added + 1
            break
        if grown is None:
            break
        end, words = grown, words + added
    return start, end


def plausible_phone(text: str, start: int, end: int) -> bool:
    """Bare digit runs are product, order and tracking ids far more often than phone
    numbers, and "1166.98 - 481.5" is a sum: keep a bare number only with a phone word
    just before it, and nothing with a decimal part."""
    value = text[start:end]
    if re.search(r"\d\.\d{1,2}(?!\d)", value) or sum(c.isdigit() for c in value) < 7:
        return False
    if not value.isdigit():
        return True
    from slimline.tasks.scrub.recognizers import PHONE_CONTEXT

    return bool(PHONE_CONTEXT.search(text[max(0, start - 30) : start]))
