"""Measuring a scrub: recall on PII planted at known places, precision, and copy consistency.

- `plant_pii(records, per_kind)` puts values of known kinds (emails, phones, cards, SSNs, IP
  addresses, secrets, names, street addresses) into real calls: the user's text, the
  agent's free text, tool-call arguments and tool results, in sentences or bare.
- `recall(planted, scrubbed)`: the share of planted values gone from the scrubbed call, per
  kind. `precision(...)`: the share of replaced spans that were PII (planted, or PII of the
  data itself that its JSON keys name), with the most common false positives.
- `copy_consistency(raw, scrubbed)`: of the argument values of the teacher's tool calls
  that appear verbatim in the raw request, the share whose scrubbed value appears verbatim
  in the scrubbed request.
- `context_changes(raw, scrubbed)`: the distinct strings of system prompts and of tool
  descriptions (and examples, defaults) that scrubbing changed, of how many.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from slimline.record import CallRecord, FunctionCall, Message, ToolCall

KINDS = ("email", "phone", "card", "ssn", "ip", "secret", "person", "address")
PLACES = ("user", "assistant", "tool_args", "tool_result")


@dataclass(frozen=True)
class Planted:
    """One value planted in record `record`, message `message` (-1: the response)."""

    record: int
    message: int
    call: int | None  # index of the tool call whose arguments hold it, else None (content)
    kind: str
    value: str
    place: str


# --- values of each kind ---------------------------------------------------------------
def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _secret(rng: random.Random) -> tuple[str, str]:
    """(the secret value, the text it is written in)."""
    alnum = string.ascii_letters + string.digits
    b64u = alnum + "-_"
    kinds = [
        lambda: ("sk-proj-" + _rand(rng, b64u, 48), "export OPENAI_API_KEY={v}"),
        lambda: ("sk-" + _rand(rng, alnum, 48), "my key is {v}"),
        lambda: ("sk-ant-api03-" + _rand(rng, b64u, 80), "ANTHROPIC_API_KEY={v}"),
        lambda: ("AKIA" + _rand(rng, string.ascii_uppercase + string.digits, 16), "{v}"),
        lambda: ("ghp_" + _rand(rng, alnum, 36), "git clone with token {v}"),
        lambda: ("github_pat_" + _rand(rng, alnum + "_", 60), "{v}"),
        lambda: ("xoxb-" + _rand(rng, string.digits, 12) + "-" + _rand(rng, alnum, 24), "{v}"),
        lambda: ("AIza" + _rand(rng, b64u, 35), "maps key: {v}"),
        lambda: ("hf_" + _rand(rng, alnum, 34), "HF_TOKEN={v}"),
        lambda: ("sk_live_" + _rand(rng, alnum, 24), "stripe {v}"),
        lambda: (_jwt(rng), "the session token is {v}"),
        lambda: (_rand(rng, b64u, 40), "Authorization: Bearer {v}"),
        lambda: (_rand(rng, string.hexdigits.lower(), 40), 'api_key = "{v}"'),
        lambda: (_rand(rng, alnum, 24), "client_secret: {v}"),
        lambda: (_rand(rng, alnum + "!@#%", 14), "password={v}"),
        lambda: (_private_key(rng), "here is the key:\n{v}\nplease rotate it"),
    ]
    return rng.choice(kinds)()


def _jwt(rng: random.Random) -> str:
    import base64

    def seg(obj: dict[str, Any]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    head = seg({"alg": "HS256", "typ": "JWT"})
    body = seg({"sub": str(rng.randint(10**6, 10**9)), "iat": rng.randint(10**9, 2 * 10**9)})
    return f"{head}.{body}.{_rand(rng, string.ascii_letters + string.digits + '-_', 43)}"


def _private_key(rng: random.Random) -> str:
    b64 = string.ascii_letters + string.digits + "+/"
    lines = [_rand(rng, b64, 64) for _ in range(rng.randint(3, 8))]
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    return (
        f"-----BEGIN {kind}PRIVATE KEY-----\n"
        + "\n".join(lines)
        + (f"\n-----END {kind}PRIVATE KEY-----")
    )


def _value(kind: str, fake: Any, rng: random.Random) -> tuple[str, str]:
    """(value, template with {v}) for one planted value of `kind`."""
    us = fake["en_US"]
    if kind == "email":
        v = fake.email() if rng.random() < 0.5 else f"{us.user_name()}@{us.domain_name()}"
        return v, rng.choice(["You can reach me at {v}.", "my email is {v}", "{v}", "email: {v}"])
    if kind == "phone":
        v = rng.choice([us.phone_number(), us.phone_number(), fake["en_GB"].phone_number()])
        t = ["call me at {v}", "My number is {v}.", "phone: {v}", "text {v} when ready"]
        return v, rng.choice(t if v.isdigit() else [*t, "{v}", "{v}"])
    if kind == "card":
        v = us.credit_card_number(rng.choice(["visa16", "mastercard", "amex", "discover"]))
        if rng.random() < 0.4 and len(v) == 16:
            sep = rng.choice([" ", "-"])
            v = sep.join(v[i : i + 4] for i in range(0, 16, 4))
        return v, rng.choice(["card number {v}", "Please charge {v}.", "{v}", "my card: {v}"])
    if kind == "ssn":
        v = us.ssn()
        if rng.random() < 0.2:
            return v.replace("-", ""), rng.choice(["my SSN is {v}", "social security number {v}"])
        return v, rng.choice(["my SSN is {v}", "SSN: {v}", "{v}", "it's {v}"])
    if kind == "ip":
        v = rng.choice([fake.ipv4_public(), fake.ipv4_private(), fake.ipv6()])
        return v, rng.choice(["from IP {v}", "the server at {v} is down", "{v}", "ip={v}"])
    if kind == "secret":
        return _secret(rng)
    if kind == "person":
        loc = rng.choice(["en_US", "en_GB", "en_IN", "es_ES", "de_DE", "fr_FR", "it_IT", "pt_BR"])
        v = f"{fake[loc].first_name()} {fake[loc].last_name()}"
        t = [
            "My name is {v}.", "This is {v}, calling about my order.", "Please add {v} as a "
            "passenger.", "{v} will travel with me.", "Thanks, {v}!", "The account holder is {v}.",
            "I spoke with {v} yesterday.", "{v}",
        ]  # fmt: skip
        return v, rng.choice(t)
    if kind == "address":
        v = us.street_address()
        t = ["I live at {v}, {c}.", "Ship it to {v}, {c}", "new address: {v}", "{v}"]
        return v, rng.choice(t).replace("{c}", us.city())
    raise ValueError(kind)


# --- planting --------------------------------------------------------------------------
def plant_pii(
    records: list[CallRecord], per_kind: int, seed: int = 7
) -> tuple[list[CallRecord], list[Planted]]:
    """Copies of `records` with `per_kind` values of each kind planted, spread over the
    four places; each planted message gets one or two values."""
    from faker import Faker

    rng = random.Random(seed)
    fake = Faker(["en_US", "en_GB", "en_IN", "es_ES", "de_DE", "fr_FR", "it_IT", "pt_BR"])
    fake.seed_instance(seed)
    out = [r.model_copy(deep=True) for r in records]
    planted: list[Planted] = []
    jobs = [(kind, i % len(PLACES)) for kind in KINDS for i in range(per_kind)]
    rng.shuffle(jobs)
    while jobs:
        n = rng.choice([1, 2])
        take, jobs = jobs[:n], jobs[n:]
        place = PLACES[take[0][1]]
        values = [(kind, *_value(kind, fake, rng)) for kind, _ in take]
        rec_i = rng.randrange(len(out))
        planted += _plant(out[rec_i], rec_i, place, values, rng)
    return out, planted


def _plant(
    rec: CallRecord, rec_i: int, place: str, values: list[tuple[str, str, str]], rng: Any
) -> list[Planted]:
    text = " ".join(t.replace("{v}", v) for _, v, t in values)
    msgs = rec.messages
    if place == "user":
        idx = [i for i, m in enumerate(msgs) if m.role == "user"] or [len(msgs)]
        i = rng.choice(idx)
        if i == len(msgs):
            msgs.append(Message(role="user", content=text))
        else:
            msgs[i].content = f"{msgs[i].text()} {text}"
        return [Planted(rec_i, i, None, k, v, place) for k, v, _ in values]
    if place == "assistant":
        rec.response.content = f"{rec.response.text()} {text}".strip()
        return [Planted(rec_i, -1, None, k, v, place) for k, v, _ in values]
    if place == "tool_result":
        idx = [i for i, m in enumerate(msgs) if m.role == "tool"]
        if not idx:
            msgs.append(Message(role="tool", content="{}", tool_call_id="call_planted"))
            idx = [len(msgs) - 1]
        i = rng.choice(idx)
        msgs[i].content = _add_to_json(msgs[i].text(), values, rng)
        return [Planted(rec_i, i, None, k, v, place) for k, v, _ in values]
    # tool_args: in the response's tool call, as new arguments
    if not rec.response.tool_calls:
        rec.response.tool_calls = [
            ToolCall(id="call_planted", function=FunctionCall(name="note", arguments="{}"))
        ]
    call = rng.randrange(len(rec.response.tool_calls or []))
    fn = rec.response.tool_calls[call].function  # type: ignore[index]
    fn.arguments = _add_to_json(fn.arguments, values, rng)
    return [Planted(rec_i, -1, call, k, v, place) for k, v, _ in values]


def _add_to_json(text: str, values: list[tuple[str, str, str]], rng: Any) -> str:
    """Add the values to a JSON object under neutral keys (no key names the kind), each in
    its template: a sentence, or the bare value when it says what it is alone (a bare
    9-digit number or an unprefixed secret never does); to plain text, as a sentence."""
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        return f"{text}\n" + " ".join(t.replace("{v}", v) for _, v, t in values)
    for n, (_, v, t) in enumerate(values):
        key = rng.choice(["note", "comment", "details", "info", "remark"])
        obj[f"{key}_{n}"] = t.replace("{v}", v)
    return json.dumps(obj)


# --- measuring -------------------------------------------------------------------------
def _field(rec: CallRecord, p: Planted) -> str:
    msg = rec.response if p.message == -1 else rec.messages[p.message]
    if p.call is not None:
        return msg.tool_calls[p.call].function.arguments  # type: ignore[index]
    return msg.text()


def _still_there(p: Planted, text: str) -> bool:
    if p.kind == "person":  # particles ("da", "van") are kept by surrogates: not a leak
        tokens = [t for t in re.findall(r"[^\W\d_]+", p.value) if len(t) > 1 and not t.islower()]
        return any(re.search(rf"(?<![^\W\d_]){re.escape(t)}(?![^\W\d_])", text) for t in tokens)
    if p.kind == "address":  # the whole, or its number and street name together
        number, street = p.value.split()[:2]
        return p.value in text or f"{number} {street}" in text
    return p.value in text or json.dumps(p.value)[1:-1] in text


def recall(planted: list[Planted], scrubbed: list[CallRecord]) -> dict[str, tuple[int, int]]:
    """{kind: (values gone, values planted)}."""
    out: dict[str, list[int]] = {k: [0, 0] for k in KINDS}
    for p in planted:
        out[p.kind][1] += 1
        if not _still_there(p, _field(scrubbed[p.record], p)):
            out[p.kind][0] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def missed(planted: list[Planted], scrubbed: list[CallRecord]) -> list[Planted]:
    return [p for p in planted if _still_there(p, _field(scrubbed[p.record], p))]


@dataclass
class Precision:
    """Replaced spans that were PII (planted or named PII of the data) and that were not."""

    true: int = 0
    false: int = 0
    false_by_text: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def value(self) -> float:
        return self.true / max(1, self.true + self.false)


def precision(spans: dict[str, list[tuple[int, int, str, float]]], pii: set[str]) -> Precision:
    """Score the spans found in each distinct string against `pii`, the known PII values
    (planted values, values under PII keys, and their name tokens): a span is right when
    its text is one of them, holds one, or lies inside one."""
    result = Precision()
    for text, found in spans.items():
        for start, end, entity, _score in found:
            piece = text[start:end]
            if piece in pii or any(v in piece for v in pii if len(v) > 3) or _inside(piece, pii):
                result.true += 1
            else:
                result.false += 1
                result.false_by_text[(entity, piece)] += 1
    return result


def pii_named_by_keys(scrubber: Any, records: list[CallRecord]) -> set[str]:
    """The values the data's own JSON keys (and structure) name as PII, and their words."""
    from slimline.tasks.scrub.walk import map_message

    values: set[str] = set()

    def visit(text: str, hint: str | None, place: str) -> str:
        if scrubber.hinted(text, hint):
            values.update([text, *text.split()])
        return text

    for rec in records:
        for msg in [*rec.messages, rec.response]:
            map_message(msg.model_dump(mode="json", exclude_none=True), visit, scrubber.hints)
    return values


def _inside(piece: str, pii: set[str]) -> bool:
    return len(piece) > 3 and any(piece in v for v in pii if len(v) > len(piece))


def copy_consistency(raw: list[CallRecord], scrubbed: list[CallRecord]) -> tuple[int, int]:
    """(kept, total): argument values of the response's tool calls that appear verbatim in
    the raw request, and how many of their scrubbed values appear in the scrubbed request."""
    kept = total = 0
    for r, s in zip(raw, scrubbed, strict=True):
        if not r.response.tool_calls:
            continue
        raw_req, scrubbed_req = _request_text(r), _request_text(s)
        for rc, sc in zip(r.response.tool_calls, s.response.tool_calls or [], strict=True):
            try:
                ra, sa = json.loads(rc.function.arguments), json.loads(sc.function.arguments)
            except ValueError:
                continue
            for rv, sv in _leaf_pairs(ra, sa):
                if len(rv) < 2 or rv not in raw_req:
                    continue
                total += 1
                kept += sv in scrubbed_req
    return kept, total


def _request_text(rec: CallRecord) -> str:
    parts = [json.dumps(rec.tools)]
    for m in rec.messages:
        parts.append(m.text())
        for c in m.tool_calls or []:
            parts.append(c.function.arguments)
    return "\n".join(parts)


def _leaf_pairs(a: Any, b: Any) -> list[tuple[str, str]]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in a if k in b for p in _leaf_pairs(a[k], b[k])]
    if isinstance(a, list) and isinstance(b, list):
        return [p for x, y in zip(a, b, strict=False) for p in _leaf_pairs(x, y)]
    if isinstance(a, bool) or a is None:
        return []
    return [(str(a), str(b))]


def _schema_texts(node: Any, path: str = "", key: str | None = None) -> dict[str, str]:
    """The prose strings of tool schemas (what scrub reads in them), by their path."""
    from slimline.tasks.scrub.walk import SCHEMA_TEXT_KEYS

    if isinstance(node, dict):
        return {
            p: t for k, v in node.items() for p, t in _schema_texts(v, f"{path}/{k}", k).items()
        }
    if isinstance(node, list):
        return {
            p: t
            for i, v in enumerate(node)
            for p, t in _schema_texts(v, f"{path}/{i}", key).items()
        }
    return {path: node} if isinstance(node, str) and key in SCHEMA_TEXT_KEYS else {}


def context_changes(raw: list[CallRecord], scrubbed: list[CallRecord]) -> dict[str, Any]:
    """Distinct system-prompt strings and tool-description strings, and how many of them
    scrubbing changed (the agent's constant context should come through unchanged)."""
    system: dict[str, bool] = {}
    tools: dict[str, bool] = {}
    for r, s in zip(raw, scrubbed, strict=True):
        for a, b in zip(r.messages, s.messages, strict=True):
            if a.role in ("system", "developer"):
                system[a.text()] = system.get(a.text(), False) or a.text() != b.text()
        after = _schema_texts(s.tools)
        for path, a_text in _schema_texts(r.tools).items():
            tools[a_text] = tools.get(a_text, False) or a_text != after.get(path)
    return {
        "system_prompts_changed": f"{sum(system.values())}/{len(system)}",
        "tool_descriptions_changed": f"{sum(tools.values())}/{len(tools)}",
        "distinct_context_strings_changed": sum(system.values()) + sum(tools.values()),
    }
