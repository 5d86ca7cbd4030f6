"""Recognizers slimline adds to Presidio's: secrets, street addresses, ids built from names,
phone numbers in North American formats, zip codes and dates of birth by their context, and
the user's own regexes and deny lists from the config (people's names: name_recognizers.py).

Each is a Presidio `LocalRecognizer`, so the analyzer runs them beside its own and resolves
them the same way. Imported only where Presidio is (never by config.py).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from slimline.tasks.scrub.heavy import without_torch

with without_torch():
    from presidio_analyzer import LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from slimline.tasks.scrub import names
from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.scrub.name_recognizers import CueNameRecognizer, FullNameRecognizer

STREET_SUFFIXES = names.street_suffixes()
_SUFFIX_RX = "|".join(sorted((re.escape(x) for x in STREET_SUFFIXES), key=len, reverse=True))
US_STATES = names.US_STATES


@dataclass(frozen=True)
class Rule:
    """One regex of a recognizer: what it finds, how sure it is, which group is the value."""

    entity: str
    regex: re.Pattern[str]
    score: float
    group: int = 0
    valid: Callable[[str, str, int], bool] | None = None  # (value, text, start) -> keep?


class RegexRecognizer(LocalRecognizer):
    """A recognizer made of `Rule`s, with optional validation of each match."""

    def __init__(self, name: str, rules: list[Rule]):
        self.rules = rules
        super().__init__(
            supported_entities=sorted({r.entity for r in rules}),
            name=name,
            supported_language="en",
        )

    def load(self) -> None:  # nothing to load
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        out = []
        for rule in self.rules:
            if entities and rule.entity not in entities:
                continue
            for m in rule.regex.finditer(text):
                start, end = m.span(rule.group)
                if start < 0 or end <= start:
                    continue
                value = text[start:end]
                if rule.valid and not rule.valid(value, text, start):
                    continue
                out.append(RecognizerResult(rule.entity, start, end, rule.score))
        return out


# --- secrets ---------------------------------------------------------------------------
def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


_PASSWORDISH = re.compile(r"(?i)pass|pwd")


def _secret_value(value: str, text: str, start: int) -> bool:
    if value.lower() in names.common_words() or value.lower() in {"null", "none", "true", "false"}:
        return False
    if set(value) <= set("*x•.-_") or value.startswith(("<", "{", "$")):
        return False  # already masked, or a template
    before = text[max(0, start - 40) : start]
    if _PASSWORDISH.search(before):
        return len(value) >= 6
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if has_digit and has_alpha:
        return len(value) >= 10
    return len(value) >= 24 and entropy(value) >= 3.5


def secret_rules() -> list[Rule]:
    c = re.compile
    return [
        Rule("PRIVATE_KEY", c(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
                              r"[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), 1.0),
        Rule("JWT", c(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0.95),
        Rule("API_KEY", c(r"\bsk-ant-(?:[a-z]{3}\d{2}-)?[A-Za-z0-9_-]{32,}"), 0.95),
        Rule("API_KEY", c(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), 0.9),
        Rule("API_KEY", c(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"), 0.95),
        Rule("API_KEY", c(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"), 0.95),
        Rule("API_KEY", c(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"), 0.95),
        Rule("API_KEY", c(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), 0.95),
        Rule("API_KEY", c(r"\bAIza[0-9A-Za-z_-]{35}"), 0.95),
        Rule("API_KEY", c(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"), 0.95),
        Rule("API_KEY", c(r"\bhf_[A-Za-z0-9]{30,}\b"), 0.9),
        Rule("API_KEY", c(r"\bglpat-[A-Za-z0-9_-]{20,}"), 0.95),
        Rule("API_KEY", c(r"\bnpm_[A-Za-z0-9]{36}\b"), 0.95),
        Rule("BEARER_TOKEN", c(r"(?i:\bbearer)\s+([A-Za-z0-9._~+/-]{16,}=*)"), 0.9, 1),
        Rule(  # HTTP basic credentials: base64 after "Basic"
            "SECRET",
            c(r"\bBasic\s+((?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{12,}={0,2})(?![\w+/=])"),
            0.8,
            1,
        ),
        Rule(  # a value under a key-like name: password=..., "api_key": "...", token: ...
            "SECRET",
            c(
                r"(?i:\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|"
                r"access[_-]?key|private[_-]?key|credentials?)[\w.-]*)"
                r"[\"']?\s*(?:[:=]|\bis\b)\s*[\"']?([^\s\"',;<>]{6,})"
            ),
            0.85,
            1,
            _secret_value,
        ),
        Rule(  # the password in a URL: scheme://user:password@host
            "SECRET", c(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s:/@]{3,})@"), 0.9, 1
        ),
    ]  # fmt: skip


# --- people, places, numbers -----------------------------------------------------------
_DIRECTION = r"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
_WORD = r"(?:[A-Z][a-zA-Z'’]+|\d+(?:st|nd|rd|th))"
_UNIT = (
    r"(?:,?\s*(?:Suite|Ste|Apt|Apartment|Unit|Floor|Fl|Room|Rm|Bldg|#)\.?\s*#?\s*"
    r"[A-Za-z0-9-]{1,6}\b)?"
)
STREET_RX = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?\s+{_DIRECTION}{_WORD}(?:\s+{_WORD}){{0,3}}?\s+"
    rf"(?i:{_SUFFIX_RX})\b\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?{_UNIT}"
)


def _zip_context(value: str, text: str, start: int) -> bool:
    before = text[max(0, start - 30) : start]
    if re.search(r"(?i)zip|postal|post\s*code|postcode", before):
        return True
    m = re.search(r"\b([A-Z]{2})\.?,?\s+$", before)
    return bool(m and m.group(1) in US_STATES)


_DOB_CONTEXT = re.compile(r"(?i)born|birth|\bdob\b|d\.o\.b|birthday|\bage\b")


def _dob_context(value: str, text: str, start: int) -> bool:
    return bool(_DOB_CONTEXT.search(text[max(0, start - 60) : start]))


_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
DATE_RX = re.compile(
    rf"\b(?:\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.](?:\d{{4}}|\d{{2}})"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}})\b"
)

PHONE_RX = re.compile(
    r"(?<![\w+/.-])(?:(?:\+|00)?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
    r"(?:\s?(?:x|ext\.?|extension)\s?\d{1,5})?(?![\w-]|\.\d)"
)
INTL_PHONE_RX = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){1,5}(?:\s?(?:x|ext\.?)\s?\d{1,5})?"
    r"(?![\w-]|\.\d)"
)
NATIONAL_PHONE_RX = re.compile(
    r"(?<![\w+.-])(?:\(0\d{2,4}\)\s?|0\d{2,4}[\s-])\d{3,4}[\s-]?\d{3,4}(?![\w-]|\.\d)"
)


def _phone_digits(value: str, text: str, start: int) -> bool:
    value = re.split(r"\s?(?:x|ext)", value)[0]
    return 8 <= sum(c.isdigit() for c in value) <= 15


# Presidio's email recognizer wants a public suffix; internal domains (corp.local) are PII too
EMAIL_RX = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)
BARE_PHONE_RX = re.compile(r"(?<![\w.+-])(?:\+?\d{10,13}|0\d{9,10})(?![\w-]|\.\d)")
PHONE_CONTEXT = re.compile(
    r"(?i)(?:phone|mobile|cell|\btel\b|\bcall|\btext\b|sms|whatsapp|\bfax\b|\bdial|"
    r"\b(?:my|your|his|her|their|contact|home|work|callback)\s+(?:number|no\.?|#))"
)


def _phone_context(value: str, text: str, start: int) -> bool:
    return bool(PHONE_CONTEXT.search(text[max(0, start - 30) : start]))


CARD_RX = re.compile(  # grouped 4-4-4-4(-3) or Amex 4-6-5, or 13-19 digits in one run
    r"(?<![\w-])(?:[2-6]\d{3}(?:[ -]\d{4}){3}(?:\d{3})?|3[47]\d{2}[ -]\d{6}[ -]\d{5}"
    r"|[2-6]\d{12,18})(?![\w-]|\.\d)"
)


def _luhn(value: str, text: str, start: int) -> bool:
    digits = re.sub(r"\D", "", value)
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 4:
        return False
    from slimline.tasks.scrub.surrogates import luhn_ok

    return luhn_ok(digits)


NAME_ID_RX = re.compile(
    r"(?<![\w.@/-])([A-Za-z]{2,})[._]([A-Za-z]{2,})(?:[._]([A-Za-z]{2,}))?[._]?(\d{2,8})"
    r"(?![\w@]|\.[A-Za-z])"
)


def _name_id(value: str, text: str, start: int) -> bool:
    parts = re.findall(r"[A-Za-z]+", value)
    common = names.common_words()
    if any(p.lower() in common for p in parts):
        return False
    return any(names.is_name(p) for p in parts)


class QuickPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer (libphonenumber, several regions), the slowest one, run
    only where a phone number can be: near a run of 7+ digits that is not a date or a
    time ("2026-11-30T12:00" is in every line of a log). A long text is matched in windows
    around those runs, not whole."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        spots = [m for m in _PHONE_CANDIDATE.finditer(text) if not _DATE_LIKE.match(m.group())]
        if not spots:
            return []
        if len(text) <= _WHOLE_TEXT:
            return super().analyze(text, entities, nlp_artifacts)
        out = []
        for start, end in _windows(spots, len(text)):
            for r in super().analyze(text[start:end], entities, None):
                r.start, r.end = r.start + start, r.end + start
                out.append(r)
        return out


_PHONE_CANDIDATE = re.compile(r"\d(?:[\s().-]{0,3}\d){6}")
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?!\d)|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_WHOLE_TEXT = 5_000  # shorter texts are matched whole, as Presidio does
_MARGIN = 40


def _windows(spots: list[re.Match[str]], size: int) -> list[tuple[int, int]]:
    """Merged windows of _MARGIN characters around each spot."""
    out: list[tuple[int, int]] = []
    for m in spots:
        start, end = max(0, m.start() - _MARGIN), min(size, m.end() + _MARGIN)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def builtin_recognizers(config: ScrubConfig) -> list[LocalRecognizer]:
    """slimline's recognizers for the entity types `config` scrubs."""
    rules = [
        Rule("STREET_ADDRESS", STREET_RX, 0.7),
        Rule("ZIP_CODE", re.compile(r"\b\d{5}(?:-\d{4})?\b"), 0.7, 0, _zip_context),
        Rule("DATE_OF_BIRTH", DATE_RX, 0.7, 0, _dob_context),
        Rule("EMAIL_ADDRESS", EMAIL_RX, 0.9),
        Rule("PHONE_NUMBER", PHONE_RX, 0.6),
        Rule("PHONE_NUMBER", INTL_PHONE_RX, 0.6, 0, _phone_digits),
        Rule("PHONE_NUMBER", NATIONAL_PHONE_RX, 0.5, 0, _phone_digits),
        Rule("PHONE_NUMBER", BARE_PHONE_RX, 0.6, 0, _phone_context),
        Rule("CREDIT_CARD", CARD_RX, 0.9, 0, _luhn),
    ]
    if config.name_ids:
        rules.append(Rule("USER_ID", NAME_ID_RX, 0.8, 0, _name_id))
    wanted = set(config.scrubbed_types())
    out: list[LocalRecognizer] = [
        QuickPhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "IN", "BR")),
        FullNameRecognizer(),
        CueNameRecognizer(),
        RegexRecognizer("SlimlineSecrets", [r for r in secret_rules() if r.entity in wanted]),
        RegexRecognizer("SlimlineRules", [r for r in rules if r.entity in wanted]),
    ]
    return [r for r in out if getattr(r, "rules", True)] + user_recognizers(config)


def user_recognizers(config: ScrubConfig) -> list[LocalRecognizer]:
    """The config's regexes (case as written) and deny lists (any case), one per type."""
    out: list[LocalRecognizer] = []
    for entity, regexes in config.patterns.items():
        for regex in regexes:
            try:
                re.compile(regex)
            except re.error as exc:
                raise ValueError(
                    f"scrub.patterns[{entity!r}]: bad regex {regex!r}: {exc}"
                ) from None
        out.append(
            PatternRecognizer(
                supported_entity=entity,
                name=f"ConfigPattern_{entity}",
                patterns=[Pattern(f"{entity}_{i}", rx, 0.9) for i, rx in enumerate(regexes)],
                global_regex_flags=re.DOTALL | re.MULTILINE,
            )
        )
    for entity, values in config.deny_lists.items():
        if values:
            out.append(
                PatternRecognizer(
                    supported_entity=entity, name=f"ConfigDenyList_{entity}", deny_list=values
                )
            )
    return out
