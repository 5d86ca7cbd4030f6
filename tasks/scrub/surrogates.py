"""What replaces a found value: a realistic surrogate, a numbered placeholder, or nothing.

Surrogates are derived from a keyed hash (HMAC-SHA256, key kept in the raw store) of the
entity type and the value in a normal form, and nobody without the key can reverse them.
Where a surrogate is the same, and why:

- within one conversation (`in_conversation(id)`), a value gets one surrogate in every
  message, tool call and tool result of every call of that conversation, in every run;
- across conversations the same value gets different surrogates: the conversation id is
  hashed with it. A value that repeats across conversations (tau2's customer phone
  555-123-2002 in 80 of them) with one constant surrogate is something an adapter learns
  by heart and writes from memory: the scrubbed held-out calls reward that, live (raw)
  calls do not, and the constant also tells that one person is in all of them;
- the agent's context (system prompts and tool schemas) gets the global surrogates (the
  root `Surrogates`, no conversation): later stages find and distil the constant context
  across conversations, so it must scrub alike in each. A value replaced in a call's
  context keeps that global surrogate in the rest of the call too (`shared`), so that the
  call stays consistent; names there are shared word by word.

They keep the kind and the shape: an email stays an email, a card number keeps its length
and passes Luhn, a date keeps its format, a phone number its punctuation. Names are
replaced token by token from the token alone (and the scope), so "Mia Garcia" -> "Ann Lee"
and then "Mia" -> "Ann" in the same conversation; ids and emails built from names
(mia_garcia_4516) reuse the same name mapping. Placeholders (`<PHONE_3>`) are scoped
alike: one number per value and conversation, numbered on across runs.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from datetime import date, timedelta

from slimline.tasks.scrub import names

_ALPHA = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d+")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+")

# Bump when the same input would get other surrogates: placeholder numbers of an earlier
# version are not reused, and scrub's stage warns about a work store scrubbed with another.
# 2: surrogates scoped per conversation (2026-12-04)
SURROGATE_VERSION = "2"
SharedKeys = frozenset[tuple[str, str]]  # (entity, normal form), or ("NAME", name word)

# domains that say nothing about a person: kept in surrogate emails
PUBLIC_DOMAINS = {
    "example.com", "example.org", "example.net", "gmail.com", "googlemail.com", "yahoo.com",
    "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com", "aol.com",
    "proton.me", "protonmail.com", "gmx.com", "mail.com", "yandex.com", "zoho.com",
}  # fmt: skip

UNIT_WORDS = {"suite", "ste", "apt", "apartment", "unit", "floor", "fl", "room", "rm", "bldg"}
DIRECTIONS = {"n", "s", "e", "w", "ne", "nw", "se", "sw", "north", "south", "east", "west"}
STREET_WORDS = (
    "Oak", "Maple", "Pine", "Cedar", "Elm", "Birch", "Willow", "Aspen", "Spruce", "Walnut",
    "Chestnut", "Hickory", "Magnolia", "Laurel", "Juniper", "Sycamore", "Poplar", "Cherry",
    "Meadow", "River", "Lake", "Hill", "Ridge", "Valley", "Forest", "Spring", "Sunset",
    "Highland", "Park", "Church", "Mill", "Bridge", "Harbor", "Orchard", "Prairie", "Summit",
)  # fmt: skip

PLACEHOLDER_LABELS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "PERSON": "NAME",
    "US_SSN": "SSN",
    "IP_ADDRESS": "IP",
    "STREET_ADDRESS": "ADDRESS",
}

_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip


def normal_form(entity: str, value: str) -> str:
    """The form a value is hashed in: formatting that does not change the value is dropped."""
    text = " ".join(value.split())
    if entity in {"PHONE_NUMBER"}:
        digits = re.sub(r"\D", "", text)
        return digits[-10:] if len(digits) >= 10 else digits or text
    if entity in {"CREDIT_CARD", "US_SSN", "US_ITIN", "US_BANK_NUMBER", "ZIP_CODE", "DEVICE_ID"}:
        return re.sub(r"\D", "", text) or text.lower()
    if entity == "IBAN_CODE":
        return re.sub(r"[^0-9A-Za-z]", "", text).upper()
    if entity in {"API_KEY", "BEARER_TOKEN", "JWT", "PRIVATE_KEY", "SECRET", "CRYPTO"}:
        return value
    return text.lower()


class Surrogates:
    """Replacement values for one scrub run: `replace(entity, text)`.

    The instance itself gives the global surrogates (the agent's context);
    `in_conversation(id, shared)` gives a conversation's. `operator` is surrogate,
    placeholder or redact. `placeholders` maps a keyed hash of (label, value, scope) to its
    number; new numbers are added to it and to `new_placeholders` (the caller persists them).
    """

    def __init__(
        self, key: str, operator: str = "surrogate", placeholders: dict[str, int] | None = None
    ):
        self._key = key.encode()
        self.operator = operator
        self.placeholders: dict[str, int] = placeholders if placeholders is not None else {}
        self.new_placeholders: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        for k, n in self.placeholders.items():
            label = k.split(":", 1)[0]
            self._counters[label] = max(self._counters.get(label, 0), n)
        self._memo: dict[tuple[str, str], str] = {}
        self._faker = None
        self._scope: tuple[str, ...] = ()  # () global, ("conv", id) a conversation's
        self._shared: SharedKeys = frozenset()
        self._root = self
        self._views: dict[tuple[str, SharedKeys], Surrogates] = {}

    def in_conversation(
        self, conversation: str | None, shared: SharedKeys = frozenset()
    ) -> Surrogates:
        """The surrogates of one conversation (None: the global ones). A value in `shared`
        (see `shared_keys`: found in the call's context) keeps its global surrogate."""
        root = self._root
        if conversation is None:
            return root
        view = root._views.get((conversation, shared))
        if view is None:
            view = copy.copy(root)  # shares the key, placeholders, counters
            view._scope, view._shared, view._memo = ("conv", conversation), shared, {}
            root._views[(conversation, shared)] = view
        return view

    def forget_conversations(self) -> None:
        """Drop the per-conversation views and their memos (the end of a window)."""
        self._root._views.clear()

    # --- hashing -------------------------------------------------------------------------
    def digest(self, *parts: str) -> bytes:
        """The keyed hash of `parts` in this scope (a conversation's id enters it)."""
        body = "\x00".join((*self._scope, *parts)).encode()
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def _stream(self, n: int, *parts: str) -> bytes:
        return hashlib.shake_256(self.digest(*parts)).digest(max(n, 1))

    def _int(self, *parts: str) -> int:
        return int.from_bytes(self.digest(*parts)[:8], "big")

    def _digits(self, n: int, *parts: str, first_nonzero: bool = False) -> str:
        out = "".join(str(b % 10) for b in self._stream(n, *parts))
        if first_nonzero and out and out[0] == "0":
            out = str(1 + self._int("nz", *parts) % 9) + out[1:]
        return out

    def _other_digits(self, old: str, *parts: str) -> str:
        """Digits as many as `old`'s, derived from the hash, never `old` itself."""
        for attempt in range(20):
            new = self._digits(len(old), *parts, old, str(attempt), first_nonzero=old[0] != "0")
            if new != old:
                return new
        return str((int(old) + 1) % 10 ** len(old)).zfill(len(old))

    def _faker_for(self, *parts: str):
        root = self._root
        if root._faker is None:
            from faker import Faker

            root._faker = Faker("en_US")
        root._faker.seed_instance(self._int("faker", *parts))
        return root._faker

    # --- entry point ---------------------------------------------------------------------
    def replace(self, entity: str, text: str) -> str:
        """The replacement of `text`, found as `entity`."""
        if self.operator == "redact":
            return ""
        if self._shared and (entity, normal_form(entity, text)) in self._shared:
            return self._root.replace(entity, text)
        if self.operator == "placeholder":
            return self.placeholder(entity, text)
        memo_key = (entity, text)
        if memo_key not in self._memo:
            fn = self._surrogates().get(entity, self._shape)
            out = fn(text)
            self._memo[memo_key] = out if out != text else self._shape(text, "again")
        return self._memo[memo_key]

    def placeholder(self, entity: str, text: str) -> str:
        if entity == "PERSON":  # token by token, so name parts agree with full names
            return _TOKEN.sub(
                lambda m: m.group() if _kept(m) else self._name_number(m.group().lower()),
                text,
            )
        label = PLACEHOLDER_LABELS.get(entity, entity)
        return self._numbered(label, normal_form(entity, text))

    def _name_number(self, word: str) -> str:
        if ("NAME", word) in self._shared:
            return self._root._numbered("NAME", word)
        return self._numbered("NAME", word)

    def _numbered(self, label: str, norm: str) -> str:
        digest = self.digest("placeholder", SURROGATE_VERSION, label, norm)
        key = f"{label}:{digest.hex()[:40]}"
        if key not in self.placeholders:
            n = self._counters.get(label, 0) + 1
            self._counters[label] = n
            self.placeholders[key] = n
            self.new_placeholders[key] = n
        return f"<{label}_{self.placeholders[key]}>"

    def _surrogates(self) -> dict[str, Callable[[str], str]]:
        return {
            "PERSON": self.person,
            "EMAIL_ADDRESS": self.email,
            "PHONE_NUMBER": self.phone,
            "CREDIT_CARD": self.card,
            "US_SSN": self.ssn,
            "US_ITIN": self.itin,
            "IP_ADDRESS": self.ip,
            "IBAN_CODE": self.iban,
            "STREET_ADDRESS": self.street,
            "DATE_OF_BIRTH": self.date,
            "USER_ID": self.name_id,
            "API_KEY": self.api_key,
            "JWT": self.jwt,
            "PRIVATE_KEY": self.private_key,
        }

    # --- names ---------------------------------------------------------------------------
    def name_token(self, token: str) -> str:
        """A name for one name token, by its role (first or last), in the token's case."""
        low = token.lower()
        if low in names.TITLES:
            return token
        if ("NAME", low) in self._shared:
            return self._root.name_token(token)
        firsts, lasts = names.surrogate_pools()
        pool = firsts if names.role(token) == "first" else lasts
        i = self._int("NAME", low)
        out = pool[i % len(pool)]
        if out.lower() == low:
            out = pool[(i + 1) % len(pool)]
        return _in_case_of(token, out)

    def person(self, text: str) -> str:
        """Word by word; titles and particles ("van der", "'t") stay, so "Jan van der Berg"
        -> "Tami van der Hopkins": the surname is replaced whole, its shape kept."""
        return _TOKEN.sub(
            lambda m: (
                m.group()
                if _kept(m)
                else self._digits(len(m.group()), "PNUM", m.group())
                if m.group().isdigit()
                else self.name_token(m.group())
            ),
            text,
        )

    def name_id(self, text: str) -> str:
        """An id that embeds a name (mia_garcia_4516): names via the name mapping, digits
        from the hash of the whole id, separators kept."""
        norm = text.lower()
        counter = iter(range(1000))
        return _TOKEN.sub(
            lambda m: (
                self._digits(len(m.group()), "IDNUM", norm, str(next(counter)))
                if m.group().isdigit()
                else self.name_token(m.group())
            ),
            text,
        )

    def email(self, text: str) -> str:
        local, _, domain = text.rpartition("@")
        if not local:
            return self._shape(text)
        norm = text.lower()
        counter = iter(range(1000))
        new_local = _TOKEN.sub(
            lambda m: (
                self._digits(len(m.group()), "EMAILNUM", norm, str(next(counter)))
                if m.group().isdigit()
                else self.name_token(m.group())
            ),
            local,
        )
        if domain.lower() not in PUBLIC_DOMAINS:
            domain = _in_case_of(domain, self._faker_for("DOMAIN", domain.lower()).domain_name())
        return f"{new_local}@{domain}"

    # --- numbers -------------------------------------------------------------------------
    def _fill(self, text: str, digits: str) -> str:
        """`text` with its digits replaced, in order, by `digits`."""
        it = iter(digits)
        return re.sub(r"\d", lambda _m: next(it, "0"), text)

    def phone(self, text: str) -> str:
        all_digits = re.sub(r"\D", "", text)
        national = all_digits[-10:] if len(all_digits) >= 10 else all_digits
        prefix = all_digits[: len(all_digits) - len(national)]  # country code, kept
        seed = ("PHONE", national)
        if len(national) == 10:
            new = (
                str(2 + self._int(*seed, "a") % 8)
                + self._digits(2, *seed, "b")
                + str(2 + self._int(*seed, "c") % 8)
                + self._digits(6, *seed, "d")
            )
        else:
            new = self._digits(len(national), *seed, first_nonzero=True)
        return self._fill(text, prefix + new)

    def card(self, text: str) -> str:
        digits = re.sub(r"\D", "", text)
        if len(digits) < 12:
            return self._fill(text, self._digits(len(digits), "CARD", digits))
        body = digits[:2] + self._digits(len(digits) - 3, "CARD", digits)
        return self._fill(text, body + luhn_digit(body))

    def ssn(self, text: str) -> str:
        digits = re.sub(r"\D", "", text)
        seed = ("SSN", digits)
        area = 1 + self._int(*seed, "area") % 899
        if area == 666:
            area = 667
        group = 1 + self._int(*seed, "group") % 99
        serial = 1 + self._int(*seed, "serial") % 9999
        return self._fill(text, f"{area:03d}{group:02d}{serial:04d}")

    def itin(self, text: str) -> str:
        digits = re.sub(r"\D", "", text)
        seed = ("ITIN", digits)
        new = "9" + self._digits(2, *seed) + str(7 + self._int(*seed) % 2) + self._digits(5, *seed)
        return self._fill(text, new)

    def iban(self, text: str) -> str:
        compact = re.sub(r"[^0-9A-Za-z]", "", text).upper()
        country, bban = compact[:2], compact[4:]
        new_bban = self._shape(bban, "IBAN")
        numeric = "".join(str(int(c, 36)) for c in new_bban + country + "00")
        check = 98 - int(numeric) % 97
        new = f"{country}{check:02d}{new_bban}"
        it = iter(new)
        return re.sub(r"[0-9A-Za-z]", lambda _m: next(it, "0"), text)

    def ip(self, text: str) -> str:
        addr, slash, suffix = text.partition("/")
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return self._shape(text)
        n = self._int("IP", str(ip))
        if ip.version == 4:
            if ip.is_private:
                new = f"10.{n % 254 + 1}.{(n >> 8) % 254 + 1}.{(n >> 16) % 254 + 1}"
            else:
                first = [23, 34, 45, 52, 64, 81, 98, 104, 142, 151, 185, 203][n % 12]
                new = f"{first}.{(n >> 8) % 254 + 1}.{(n >> 16) % 254 + 1}.{(n >> 24) % 254 + 1}"
        else:
            raw = int.from_bytes(self._stream(16, "IP6", str(ip)), "big")
            new = str(ipaddress.IPv6Address((0x2001_0DB8 << 96) | (raw >> 32)))
        return new + slash + suffix

    # --- addresses and dates -------------------------------------------------------------
    def street(self, text: str) -> str:
        """Part by part, so "922 Pine Lane" and "922 Pine Lane, Suite 395" agree: numbers by
        their own hash, street words from a word list, suffixes and unit words kept."""
        suffixes = names.core_street_suffixes()

        def part(m: re.Match[str]) -> str:
            tok = m.group()
            low = tok.lower()
            if tok.isdigit():
                return self._other_digits(tok, "ADDRNUM")
            if low in suffixes or low in UNIT_WORDS or low in DIRECTIONS:
                return tok
            if any(c.isdigit() for c in tok):
                return self._shape(tok, "ADDR")
            word = STREET_WORDS[self._int("ADDRWORD", low) % len(STREET_WORDS)]
            if word.lower() == low:
                word = STREET_WORDS[(self._int("ADDRWORD", low) + 1) % len(STREET_WORDS)]
            return _in_case_of(tok, word)

        return re.sub(r"[^\W_]+", part, text)

    def date(self, text: str) -> str:
        """A date in the same format, moved by up to about two years."""
        for pattern, build, render in _DATE_FORMATS:
            m = pattern.fullmatch(text.strip())
            if not m:
                continue
            try:
                value = build(m)
            except ValueError:
                continue
            shift = 30 + self._int("DATE", value.isoformat()) % 700
            if self._int("DATESIGN", value.isoformat()) % 2:
                shift = -shift
            try:
                new = value + timedelta(days=shift)
            except OverflowError:
                break
            return text.replace(text.strip(), render(m, new))
        return self._shape(text, "DATE")

    # --- secrets -------------------------------------------------------------------------
    def api_key(self, text: str) -> str:
        m = re.match(
            r"(sk-ant-(?:api\d+-)?|sk-proj-|sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprs]-|"
            r"AIza|hf_|(?:sk|rk|pk)_(?:live|test)_|glpat-|npm_)",
            text,
        )
        keep = len(m.group()) if m else 0
        return text[:keep] + self._shape(text[keep:], "KEY")

    def jwt(self, text: str) -> str:
        parts = text.split(".")
        return ".".join(
            p[:3] + self._shape(p[3:], "JWT", str(i)) if p.startswith("eyJ") else self._shape(p)
            for i, p in enumerate(parts)
        )

    def private_key(self, text: str) -> str:
        lines = text.split("\n")
        return "\n".join(
            line if line.startswith("-----") else self._shape(line, "PEM", str(i))
            for i, line in enumerate(lines)
        )

    def _shape(self, text: str, *salt: str) -> str:
        """Each letter and digit replaced by one of its own kind; everything else kept."""
        stream = self._stream(len(text), "SHAPE", text, *salt)
        out = []
        for ch, b in zip(text, stream, strict=False):
            if ch.isdigit():
                out.append(str(b % 10))
            elif "a" <= ch <= "z":
                out.append(chr(97 + b % 26))
            elif "A" <= ch <= "Z":
                out.append(chr(65 + b % 26))
            elif ch.isalpha():
                out.append(chr(97 + b % 26) if ch.islower() else chr(65 + b % 26))
            else:
                out.append(ch)
        return "".join(out)


def shared_keys(entity: str, value: str) -> set[tuple[str, str]]:
    """What a value replaced in a call's context makes global in the rest of the call: the
    value (entity, normal form) and, for a name, each of its words."""
    keys = {(entity, normal_form(entity, value))}
    if entity == "PERSON":
        keys |= {("NAME", m.group().lower()) for m in _TOKEN.finditer(value) if not _kept(m)}
    return keys


def _kept(m: re.Match[str]) -> bool:
    """A word of a name that is kept as it is: a title, or a particle ("van", "'t")."""
    word = m.group()
    if word.lower() in names.TITLES or names.is_particle(word):
        return True
    return word == "t" and m.start() > 0 and m.string[m.start() - 1] in "'’"


def luhn_digit(body: str) -> str:
    """The check digit that makes `body` + digit pass the Luhn test."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    digits = re.sub(r"\D", "", number)
    return len(digits) > 1 and luhn_digit(digits[:-1]) == digits[-1]


def _in_case_of(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model.islower():
        return word.lower()
    if model[:1].isupper():
        return word[:1].upper() + word[1:].lower()
    return word


def _month_index(name: str) -> int:
    low = name.lower()[:3]
    for i, month in enumerate(_MONTHS):
        if month.lower().startswith(low):
            return i + 1
    raise ValueError(name)


def _render_month(original: str, month: int) -> str:
    full = _MONTHS[month - 1]
    text = full if len(original.rstrip(".")) > 3 else full[:3]
    text = text + ("." if original.endswith(".") else "")
    return _in_case_of(original, text)


def _pad(original: str, value: int) -> str:
    """`value` as wide as `original` was (06 stays two digits, 6 stays one)."""
    return f"{value:0{len(original)}d}" if len(original) > 1 else str(value)


_DATE_FORMATS = [
    (  # 1988-06-13, 1988/06/13, 1988.06.13
        re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"),
        lambda m: date(int(m[1]), int(m[3]), int(m[4])),
        lambda m, d: f"{d.year}{m[2]}{_pad(m[3], d.month)}{m[2]}{_pad(m[4], d.day)}",
    ),
    (  # 06/13/1988, 6-13-88 (month first, as in the US)
        re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})"),
        lambda m: (
            date(_year(m[4]), int(m[1]), int(m[3]))
            if int(m[1]) <= 12
            else date(_year(m[4]), int(m[3]), int(m[1]))
        ),
        lambda m, d: (
            (
                f"{_pad(m[1], d.month)}{m[2]}{_pad(m[3], d.day)}"
                if int(m[1]) <= 12
                else f"{_pad(m[1], d.day)}{m[2]}{_pad(m[3], d.month)}"
            )
            + f"{m[2]}{str(d.year)[-len(m[4]) :]}"
        ),
    ),
    (  # June 13, 1988 / Jun 13 1988
        re.compile(r"([A-Za-z]{3,9}\.?)\s+(\d{1,2})(?:st|nd|rd|th)?(,?)\s+(\d{4})"),
        lambda m: date(int(m[4]), _month_index(m[1]), int(m[2])),
        lambda m, d: f"{_render_month(m[1], d.month)} {d.day}{m[3]} {d.year}",
    ),
    (  # 13 June 1988
        re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,9}\.?)(,?)\s+(\d{4})"),
        lambda m: date(int(m[4]), _month_index(m[2]), int(m[1])),
        lambda m, d: f"{d.day} {_render_month(m[2], d.month)}{m[3]} {d.year}",
    ),
]


def _year(text: str) -> int:
    if len(text) == 4:
        return int(text)
    y = int(text)
    return 1900 + y if y > 30 else 2000 + y
