"""What scrub knows about people's names: which words are first or last names, which are
common words that are no names on their own, and which first/last names surrogates use.

Names come from two sources: Faker's person providers of many locales (curated, Latin
script) and the `names-dataset` package (first and last names of 105 countries with their
rank, see namedata.py), so uncommon names from Georgia, Nigeria, Poland or Japan are known
too (see namedata.py for which of its names are kept: not its long tail, not the words
an English text writes in lower case). Common English words (word_lists)
are never names on their own, e.g. "May", "Will", "Mode", "Lookup".
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

from slimline.tasks.scrub import namedata
from slimline.tasks.scrub.wordlists import (
    COMMON_EXTRA,
    PARTICLES,
    TITLES,
    US_STATES,
    USPS_SUFFIXES,
)

__all__ = ["PARTICLES", "TITLES", "US_STATES"]

NAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "en_PK", "es_ES", "es_MX", "es_CO", "es_AR",
    "fr_FR", "de_DE", "de_AT", "it_IT", "pt_BR", "pt_PT", "nl_NL", "sv_SE", "no_NO", "da_DK",
    "fi_FI", "pl_PL", "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "hr_HR", "sl_SI", "tr_TR", "id_ID",
    "vi_VN", "hi_IN", "ta_IN", "yo_NG", "zu_ZA", "sw", "ga_IE", "et_EE", "lv_LV", "lt_LT",
    "ja_JP", "zh_CN", "ko_KR",
)  # fmt: skip

_LATIN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ'\-]+")


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
    """Faker's first and last names of NAME_LOCALES, lower case."""
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


@cache
def _known() -> tuple[frozenset[str], frozenset[str]]:
    """Every known first name and last name (both sources), lower case."""
    faker_first, faker_last = _name_sets()
    ranked_first, ranked_last = namedata.load()
    return faker_first | ranked_first, faker_last | ranked_last


def first_names() -> frozenset[str]:
    """Lower-case first names, common words included ("june"): see `is_first_name`."""
    return _known()[0]


def last_names() -> frozenset[str]:
    """Lower-case last names, common words included ("green")."""
    return _known()[1]


@cache
def common_words() -> frozenset[str]:
    """Lower-case English words that are not names when they stand alone."""
    from faker.providers.lorem.en_US import Provider as Lorem

    stop_words = _spacy_stop_words()
    return frozenset({w.lower() for w in Lorem.word_list} | set(stop_words) | set(COMMON_EXTRA))


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
    first, last = _known()
    return low in first or low in last


def is_first_name(token: str) -> bool:
    """True if `token` is a known first name and not a common word."""
    low = token.lower()
    return low in _known()[0] and low not in common_words()


def is_curated_first_name(token: str) -> bool:
    """True if `token` is a first name of Faker's curated lists and not a common word
    ("Beatriz", not names-dataset's "Las" or "San")."""
    low = token.lower()
    return low in _name_sets()[0] and low not in common_words()


def is_particle(token: str) -> bool:
    """ "van", "de", "bin" ...: a word that joins the parts of a name (written lower case)."""
    return token in PARTICLES


def role(token: str) -> str:
    """'first' or 'last': what kind of name `token` is, from the token alone.

    Deciding from the token alone (not its position) is what keeps name parts consistent:
    "Mia" gets the same surrogate inside "Mia Garcia" and on its own. A name that is both
    goes by how common it is as each in the US (Faker's weights), then by Faker's lists,
    then by names-dataset (a top first name, else a last name, else a first name).
    """
    low = token.lower()
    us_first, us_last = _us_weights()
    if low in us_first or low in us_last:
        return "first" if us_first.get(low, 0.0) >= us_last.get(low, 0.0) else "last"
    first, last = _name_sets()
    if low in first and low not in last:
        return "first"
    if low in last:
        return "last"
    ranked_first, ranked_last = namedata.load()
    if low in ranked_first:
        return "first"
    return "last" if low in ranked_last else "first"


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


def core_street_suffixes() -> frozenset[str]:
    """The usual street suffixes only (Street, Ave, Lane ...): kept as they are in
    surrogate addresses, while the other words of a street name are replaced."""
    return frozenset(USPS_SUFFIXES)


@cache
def street_suffixes() -> frozenset[str]:
    """Street suffixes (USPS, full and abbreviated, and Faker's), lower case."""
    from faker.providers.address.en_US import Provider

    return frozenset(USPS_SUFFIXES) | {s.lower() for s in Provider.street_suffixes}
