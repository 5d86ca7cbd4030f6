"""Word lists the scrubber reasons with: people's first and last names, and common words.

Names come from Faker's person providers of many locales (Latin script only), so a token
can be told to be a first name or a last name. Common English words (and month, day and
product-ish words seen as false positives on real agent traffic) are never treated as names
on their own, e.g. "May", "Will", "Mode".
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

NAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "en_PK", "es_ES", "es_MX", "es_CO", "es_AR",
    "fr_FR", "de_DE", "de_AT", "it_IT", "pt_BR", "pt_PT", "nl_NL", "sv_SE", "no_NO", "da_DK",
    "fi_FI", "pl_PL", "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "hr_HR", "sl_SI", "tr_TR", "id_ID",
    "vi_VN", "hi_IN", "ta_IN", "yo_NG", "zu_ZA", "sw", "ga_IE", "et_EE", "lv_LV", "lt_LT",
    "ja_JP", "zh_CN", "ko_KR",
)  # fmt: skip

_LATIN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ'\-]+")

# Not names when they stand alone, however often parents choose them.
COMMON_EXTRA = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "tomorrow",
    "yesterday",
    "hi",
    "hello",
    "hey",
    "dear",
    "thanks",
    "thank",
    "please",
    "sorry",
    "yes",
    "no",
    "okay",
    "ok",
    "sure",
    "great",
    "good",
    "best",
    "regards",
    "mode",
    "data",
    "plan",
    "line",
    "bill",
    "card",
    "gift",
    "credit",
    "paypal",
    "certificate",
    "account",
    "order",
    "item",
    "product",
    "user",
    "customer",
    "agent",
    "assistant",
    "support",
    "service",
    "team",
    "manager",
    "airline",
    "flight",
    "economy",
    "basic",
    "business",
    "first",
    "last",
    "name",
    "number",
    "phone",
    "email",
    "address",
    "street",
    "suite",
    "city",
    "state",
    "zip",
    "code",
    "smart",
    "electric",
    "wireless",
    "water",
    "coffee",
    "garden",
    "office",
    "pet",
    "air",
    "tea",
    "wall",
    "yoga",
    "running",
    "hiking",
    "mechanical",
    "portable",
    "digital",
    "gaming",
    "desk",
    "action",
    "indoor",
    "security",
    "jigsaw",
    "makeup",
    "luggage",
    "patio",
    "fleece",
    "cycling",
    "dumbbell",
    "vacuum",
    "espresso",
    "bluetooth",
    "laptop",
    "tablet",
    "grill",
    "backpack",
    "bicycle",
    "notebook",
    "perfume",
    "sneakers",
    "sunglasses",
    "skateboard",
    "wristwatch",
    "headphones",
    "bookshelf",
    "airplane",
    "roaming",
    "network",
    "signal",
    "mobile",
    "cellular",
    "wifi",
    "speed",
    "test",
    "status",
    "reset",
    "restart",
    "apn",
    "sim",
    "esim",
    "mms",
    "sms",
    "vpn",
    "lte",
    "battery",
    "device",
    "settings",
    "app",
    "permission",
    "storage",
    "camera",
    "premium",
    "unlimited",
    "family",
    "international",
    "domestic",
    "overage",
    "charge",
    "fee",
    "refund",
    "payment",
    "return",
    "exchange",
    "cancel",
    "modify",
    "update",
    "book",
    "booking",
    "reservation",
    "baggage",
    "insurance",
    "cabin",
    "dr",
    "mr",
    "mrs",
    "ms",
    "miss",
    "sir",
    "madam",
    "jr",
    "sr",
    "ii",
    "iii",
    "iv",
]

TITLES = {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam", "jr", "sr", "ii", "iii", "iv"}


def _names_of(provider: type, prefix: str) -> set[str]:
    out: set[str] = set()
    for attr in dir(provider):
        if attr.startswith(prefix):
            value = getattr(provider, attr)
            items = value.keys() if isinstance(value, dict) else value
            if isinstance(items, str):
                continue
            for name in items:  # compound names ("Luiz Felipe") count part by part
                for part in str(name).split():
                    if _LATIN.fullmatch(part) and len(part) > 1:
                        out.add(part.lower())
    return out


@cache
def _name_sets() -> tuple[frozenset[str], frozenset[str]]:
    first: set[str] = set()
    last: set[str] = set()
    for locale in NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except (ImportError, AttributeError):
            continue
        first |= _names_of(provider, "first_names")
        last |= _names_of(provider, "last_names")
    return frozenset(first), frozenset(last)


def first_names() -> frozenset[str]:
    return _name_sets()[0]


def last_names() -> frozenset[str]:
    return _name_sets()[1]


@cache
def common_words() -> frozenset[str]:
    """Lower-case English words that are not names when they stand alone."""
    from faker.providers.lorem.en_US import Provider as Lorem

    STOP_WORDS = _spacy_stop_words()

    return frozenset({w.lower() for w in Lorem.word_list} | set(STOP_WORDS) | set(COMMON_EXTRA))


def _spacy_stop_words() -> set[str]:
    """spaCy's English stop words, read from their module without importing spaCy (which
    takes seconds: it pulls in thinc and probes for torch)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("spacy")
    if spec and spec.origin:
        path = Path(spec.origin).parent / "lang" / "en" / "stop_words.py"
        if path.is_file():
            import runpy

            return set(runpy.run_path(str(path))["STOP_WORDS"])
    from slimline.tasks.scrub.heavy import without_torch

    with without_torch():
        from spacy.lang.en.stop_words import STOP_WORDS
    return set(STOP_WORDS)


def is_name(token: str) -> bool:
    """True if `token` is a known first or last name and not a common word."""
    low = token.lower()
    if len(low) < 2 or low in common_words():
        return False
    first, last = _name_sets()
    return low in first or low in last


def is_first_name(token: str) -> bool:
    """True if `token` is a known first name and not a common word."""
    low = token.lower()
    return low in _name_sets()[0] and low not in common_words()


def role(token: str) -> str:
    """'first' or 'last': what kind of name `token` is, from the token alone.

    Deciding from the token alone (not its position) is what keeps name parts consistent:
    "Mia" gets the same surrogate inside "Mia Garcia" and on its own. A name that is both
    goes by how common it is as each in the US (Faker's weights), then by the lists.
    """
    low = token.lower()
    us_first, us_last = _us_weights()
    if low in us_first or low in us_last:
        return "first" if us_first.get(low, 0.0) >= us_last.get(low, 0.0) else "last"
    first, last = _name_sets()
    if low in first and low not in last:
        return "first"
    return "last" if low in last else "first"


@cache
def _us_weights() -> tuple[dict[str, float], dict[str, float]]:
    from faker.providers.person.en_US import Provider

    def share(weights: Any) -> dict[str, float]:
        if not isinstance(weights, dict):
            return {str(n).lower(): 1.0 for n in weights}
        total = sum(weights.values()) or 1.0
        return {n.lower(): w / total for n, w in weights.items()}

    return share(Provider.first_names), share(Provider.last_names)


@cache
def surrogate_pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(first names, last names) that surrogates are drawn from: Faker's en_US lists."""
    from faker.providers.person.en_US import Provider

    firsts = tuple(sorted({n for n in Provider.first_names if n.isalpha()}))
    lasts = tuple(sorted({n for n in Provider.last_names if n.isalpha()}))
    return firsts, lasts


US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
    ]
)

_USPS_SUFFIXES = [
    "alley",
    "aly",
    "avenue",
    "ave",
    "av",
    "boulevard",
    "blvd",
    "bypass",
    "byp",
    "causeway",
    "cswy",
    "center",
    "ctr",
    "circle",
    "cir",
    "close",
    "court",
    "ct",
    "cove",
    "cv",
    "crescent",
    "cres",
    "crossing",
    "xing",
    "drive",
    "dr",
    "expressway",
    "expy",
    "freeway",
    "fwy",
    "highway",
    "hwy",
    "lane",
    "ln",
    "loop",
    "parkway",
    "pkwy",
    "pike",
    "place",
    "pl",
    "plaza",
    "plz",
    "road",
    "rd",
    "route",
    "rte",
    "row",
    "square",
    "sq",
    "street",
    "st",
    "terrace",
    "ter",
    "trail",
    "trl",
    "turnpike",
    "tpke",
    "way",
    "wy",
    "walk",
    "path",
    "landing",
    "ridge",
    "heights",
    "hts",
    "commons",
    "grove",
    "manor",
    "mews",
    "point",
    "pt",
    "run",
    "crest",
    "hollow",
]


def core_street_suffixes() -> frozenset[str]:
    """The usual street suffixes only (Street, Ave, Lane ...): kept as they are in
    surrogate addresses, while the other words of a street name are replaced."""
    return frozenset(_USPS_SUFFIXES)


@cache
def street_suffixes() -> frozenset[str]:
    """Street suffixes (USPS, full and abbreviated, and Faker's), lower case."""
    from faker.providers.address.en_US import Provider

    return frozenset(_USPS_SUFFIXES) | {s.lower() for s in Provider.street_suffixes}
