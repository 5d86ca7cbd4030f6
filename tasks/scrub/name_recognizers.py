"""slimline's recognizers of people's names, beside spaCy's NER:

- `FullNameRecognizer`: two to five capitalised words that read as a name by the name
  lists ("Megan Cox", "Chukwuemeka Okonkwo", "Vitor da Costa"), anywhere in free text;
- `CueNameRecognizer`: the name a phrase announces, known to the lists or not: "my name is
  X", "Name: X", "Hi, this is X", "I'm X", a sign-off ("Thanks,\\nX", "Best regards, X",
  "-- X"), and with a known name in it "Dear X", "Mr X", "passenger X". Its hits are of the
  type `PERSON_CUE` (the analyzer turns them into PERSON without second-guessing them).

Names are taken whole: capitalised words in any alphabet with case (Łukasz, Wróblewska,
Ōtani), joined by particles ("Jan van der Berg", "Femke van 't Hof"), hyphens and
apostrophes inside words (Okonjo-Iweala, O'Brien).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from slimline.tasks.scrub.heavy import without_torch

with without_torch():
    from presidio_analyzer import LocalRecognizer, RecognizerResult

from slimline.tasks.scrub import names
from slimline.tasks.scrub.spans import CUE_ENTITY

MAX_WORDS = 6  # words of one name, particles aside

# a capitalised word: an upper-case letter (any alphabet) then letters, ' or - inside
_CAP_WORD = re.compile(r"(?<![\w'’-])[^\W\d_a-zß-öø-ÿ][^\W\d_]*(?:['’-][^\W\d_]+)*(?![\w-])")
_PARTICLE_RX = "|".join(re.escape(p) for p in sorted(names.PARTICLES, key=len, reverse=True))
_JOIN = re.compile(rf"[ \t]+(?:(?:{_PARTICLE_RX})[ \t]+){{0,2}}")
_LOWER_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def _is_cap(word: str) -> bool:
    return word[:1].isupper() and not word.isupper()


def _common(word: str) -> bool:
    return word.lower() in names.common_words()


def capitalised_runs(text: str) -> Iterator[list[tuple[int, int]]]:
    """Runs of capitalised words joined by spaces (and particles), as (start, end) of each
    word, particles included."""
    run: list[tuple[int, int]] = []
    for m in _CAP_WORD.finditer(text):
        if not _is_cap(m.group()):
            continue
        if run:
            gap = _JOIN.fullmatch(text, run[-1][1], m.start())
            if gap:
                for p in re.finditer(r"\S+", gap.group()):
                    run.append((run[-1][1] + p.start(), run[-1][1] + p.end()))
                run.append(m.span())
                continue
            if len(run) > 1:
                yield run
        run = [m.span()]
    if len(run) > 1:
        yield run


def full_name(parts: list[str]) -> bool:
    """Do these capitalised words (particles like "da" aside) read as a name? The first a
    known first name ("June" too, when a known surname follows), the others no common
    words (a last one may be, if it is a known surname: "Marian Day"), and most of them
    known names ("Megan Cox", "Ana Sophia Fernandes", "Vitor da Costa")."""
    parts = [p for p in parts if not names.is_particle(p)]
    if len(parts) < 2:
        return False
    first = names.is_first_name(parts[0]) or (
        parts[0].lower() in names.first_names() and names.is_name(parts[1])
    )
    if not first:
        return False
    for i, part in enumerate(parts[1:], 1):
        low = part.lower()
        if _common(part) and not (i == len(parts) - 1 and low in names.last_names()):
            return False
    known = sum(names.is_name(p) or p.lower() in names.last_names() for p in parts[1:]) + 1
    return known * 2 >= len(parts)


_PLACE_LABELS = {"LOCATION", "GPE", "LOC"}


def places(nlp_artifacts: object) -> list[tuple[int, int]]:
    """Where spaCy saw a place: "Las Vegas" and "San Jose" read as names by the lists."""
    ents = getattr(nlp_artifacts, "entities", None) or []
    return [(e.start_char, e.end_char) for e in ents if e.label_ in _PLACE_LABELS]


class FullNameRecognizer(LocalRecognizer):
    """Names spaCy's small model misses: two or three capitalised words that read as a name
    (see `full_name`), anywhere in a run of capitalised words, longest first; where spaCy
    saw a place, only if it starts with a first name of Faker's curated lists ("Beatriz
    Macedo", not "Las Vegas")."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="SlimlineFullName")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        out = []
        where = places(nlp_artifacts)
        for run in capitalised_runs(text):
            words = [text[s:e] for s, e in run]
            i = 0
            while i < len(run) - 1:
                for n in (5, 4, 3, 2):  # particles count as words here
                    window = words[i : i + n]
                    if len(window) < n or names.is_particle(window[-1]):
                        continue
                    particles = sum(names.is_particle(w) for w in window)
                    if full_name(window) and (n <= 3 or particles >= n - 3):
                        start, end = run[i][0], run[i + n - 1][1]
                        place = any(s < end and start < e for s, e in where)
                        if not place or names.is_curated_first_name(window[0]):
                            out.append(RecognizerResult("PERSON", start, end, 0.9))
                        i += n
                        break
                else:
                    i += 1
        return out


# --- names a phrase announces ----------------------------------------------------------
_I = r"(?i:"
STRONG_CUES = re.compile(  # the words after these are a name, whatever they are
    _I + r"\b(?:my|his|her|their|the\s+(?:customer|passenger|caller|user|account\s+holder)"
    r"['’]?s?)\s+(?:full\s+|legal\s+|first\s+|last\s+|real\s+)?name\s*(?:is|was|['’]s|:|=)"
    r"|(?:^|(?<=[\n,;|(]))[ \t]*(?:full\s+|customer\s+|contact\s+|passenger\s+|legal\s+|"
    r"account\s+holder\s+|cardholder\s+)?name\s*[:=]"
    r"|\bi\s+am\s+called|\bi\s+go\s+by|\bthe\s+name['’]s)[ \t]*"
)
GREETING_CUES = re.compile(  # "Hi, this is X", "Hello, I'm X", "This is X speaking"
    _I + r"\b(?:hi|hello|hey|hiya|good\s+(?:morning|afternoon|evening|day)|greetings)\b"
    r"[ \t]*[,!.:-]?[ \t]*(?:this\s+is|it['’]s|i['’]m|i\s+am|here\s+is)"
    r"|(?:^|(?<=[\n.!?]))[ \t]*this\s+is)[ \t]+"
)
SIGNOFFS = (
    r"(?:thanks(?:\s+again)?|thank\s+you|many\s+thanks|regards|best\s+regards|kind\s+regards|"
    r"warm\s+regards|warmly|best\s+wishes|best|cheers|sincerely|yours\s+(?:truly|sincerely)|"
    r"respectfully|all\s+the\s+best|take\s+care)"
)
SIGNOFF_CUES = re.compile(  # "Thanks,\nX", "Best regards, X" (ending its line), "-- X"
    _I + rf"\b{SIGNOFFS}[ \t]*(?:[,.!]+[ \t]*(?:\r?\n[ \t]*)?|\r?\n[ \t]*|[-–—]+[ \t]*)"
    r"|(?:^|(?<=\n))[ \t]*(?:--|—|–)[ \t]*)"
)
_LINE_END = re.compile(r"[ \t]*[.!,]?[ \t]*(?:\r?\n|$)")
WEAK_CUES = re.compile(  # a name follows if it is a known one
    _I + r"\b(?:i['’]m|i\s+am|dear|mr|mrs|ms|mx|miss|dr|prof|named|called|passengers?|"
    r"travell?ers?|customer|contact|spoke\s+(?:with|to)|speaking\s+(?:with|to)|talked\s+to|"
    r"ask\s+for|on\s+behalf\s+of|account\s+holder(?:\s+is)?|cardholder(?:\s+is)?|"
    r"(?:my|his|her|our)\s+(?:wife|husband|son|daughter|mother|father|mom|dad|friend|partner|"
    r"colleague|boss|manager|brother|sister|assistant)(?:\s+is)?)\.?[ \t]*[,:]?)[ \t]+"
)


def name_after(text: str, pos: int, *, strong: bool) -> tuple[int, int] | None:
    """The name that starts at `pos`: capitalised words joined by spaces and particles, up
    to MAX_WORDS. After a strong cue a name written in lower case counts too ("my name is
    nodar tsiklauri") when a word of it is a known name."""
    words: list[tuple[int, int]] = []
    end = pos
    while len(words) < MAX_WORDS:
        join = _JOIN.match(text, end) if words else None
        start = join.end() if join else end
        m = _CAP_WORD.match(text, start)
        if not m or not _is_cap(m.group()):
            break
        words.append(m.span())
        end = m.end()
    if words:
        return words[0][0], words[-1][1]
    if not strong:
        return None
    lowered = []
    for m in _LOWER_WORD.finditer(text, pos):
        between = text[lowered[-1].end() if lowered else pos : m.start()]
        if (lowered and between not in (" ", "\t")) or _common(m.group()) or len(lowered) >= 3:
            break
        lowered.append(m)
    if lowered and any(names.is_name(m.group()) for m in lowered):
        return lowered[0].start(), lowered[-1].end()
    return None


def _plausible(text: str, start: int, end: int, kind: str) -> bool:
    """Does the announced name read as one? `kind`: strong, greeting, signoff or weak."""
    tokens = [t for t in _LOWER_WORD.findall(text[start:end]) if not names.is_particle(t)]
    if not tokens or any(t.lower() in names.TITLES for t in tokens):
        return False
    if kind == "strong":
        return True
    if _common(tokens[0]) and tokens[0].lower() not in names.first_names():
        # "Hi, this is Customer Support", "Thanks, Team"; but "Thanks,\nDo Hai Yen"
        rest = tokens[1:]
        if not rest or any(_common(t) for t in rest) or not any(map(names.is_name, rest)):
            return False
    if kind in ("greeting", "signoff"):
        return not all(_common(t) for t in tokens)
    known = [names.is_name(t) for t in tokens]
    inner_common = any(_common(t) for t in tokens[:-1])
    return any(known) and not inner_common


class CueNameRecognizer(LocalRecognizer):
    """The names phrases announce (see the module's docstring), as PERSON_CUE hits."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[CUE_ENTITY], name="SlimlineNameCue")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        out = []
        for kind, cues, score in (
            ("strong", STRONG_CUES, 0.9),
            ("greeting", GREETING_CUES, 0.85),
            ("signoff", SIGNOFF_CUES, 0.8),
            ("weak", WEAK_CUES, 0.75),
        ):
            for cue in cues.finditer(text):
                span = name_after(text, cue.end(), strong=kind == "strong")
                if not span or not _plausible(text, *span, kind):
                    continue
                if kind == "signoff" and not _LINE_END.match(text, span[1]):
                    continue  # a signature ends its line: not "Thanks, Apple Pay works"
                out.append(RecognizerResult(CUE_ENTITY, span[0], span[1], score))
        return out
