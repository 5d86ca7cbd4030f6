"""Scrubbing records in two steps, so that every copy of a value is replaced alike:

1. `learn(records)`: gather the distinct strings of the records (each message once per
   conversation, however many calls repeat it), take what JSON keys and structure say
   (`"zip": "32169"` is a zip code, a `name` beside an `email` a person's name), analyse
   each string not analysed before (cache, then Presidio, in parallel), tell the agent's
   constant context (context.py) from the conversations, and remember each value found as
   PII where it means the same thing (known.py);
2. `scrub(record)`: each string with its own hits and the known values in it replaced
   (Presidio's AnonymizerEngine with slimline's surrogates), each distinct message once.
   The record's context (system messages, tools) first, with the global surrogates, then
   the rest with its conversation's, where a value replaced in the context keeps its
   global surrogate (surrogates.py says why).

A record that cannot be scrubbed (a string too long to analyse, an analysis that failed,
an error while replacing) raises `Unscrubbable` with a reason that names no content; the
caller sets it aside and goes on with the others.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from slimline.record import CallRecord, Message, canonical_json, describe_errors
from slimline.tasks.scrub import names
from slimline.tasks.scrub.analysis import Analysis
from slimline.tasks.scrub.cache import ScrubCache
from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.scrub.context import context_key, real_identifier
from slimline.tasks.scrub.engine import describe
from slimline.tasks.scrub.heavy import without_torch
from slimline.tasks.scrub.known import Known, KnownValues
from slimline.tasks.scrub.spans import Span, resolve
from slimline.tasks.scrub.surrogates import Surrogates, shared_keys
from slimline.tasks.scrub.walk import NAME_BY_STRUCTURE, map_message, map_metadata, map_tools

_ALNUM = re.compile(r"[^\W_]")
_SCALARS = (
    "id", "source", "agent", "timestamp", "model", "latency_ms", "prompt_tokens",
    "completion_tokens", "cost_usd",
)  # fmt: skip
CONTEXT_ROLES = ("system", "developer")
Scope = str | tuple[str, str]  # a conversation id, or ("ctx", key) for a context's strings


class Unscrubbable(Exception):
    """A record that cannot be scrubbed; `reason` says why without quoting any content."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Scrubber:
    """Learns from records, then scrubs them; one per run (it holds the run's counts)."""

    def __init__(self, config: ScrubConfig, key: str, cache: ScrubCache | None = None):
        self.config = config
        self.hints = config.hint_map()
        self.types = set(config.scrubbed_types())
        self.cache = cache
        self.surrogates = Surrogates(key, config.operator, cache.placeholders() if cache else {})
        self.known = KnownValues()
        if cache:
            for entity, value, conversation in cache.known_values():
                self.known.add(entity, value, conversation)
        self._new_known: list[Known] = []
        self.spans: dict[str, list[Span]] = {}  # analysed string -> its hits
        self.failures: dict[str, str] = {}  # string -> why it cannot be scrubbed
        self.failed_records: dict[str, str] = {}  # record id -> why it cannot be read
        self.constant: set[str] = set()  # context keys of the agent's constant context
        self.analysis = Analysis(config)
        self._pending: dict[str, None] = {}
        self._occurs: dict[Scope, set[str]] = {}  # scope -> strings seen there, unhinted
        self._hinted: dict[Scope, list[tuple[str, str]]] = {}  # context -> (entity, string)
        self._contexts: dict[str, set[str]] = {}  # context key -> its conversations
        self._new_constant: list[str] = []
        self._ctx_keys: dict[Any, str] = {}
        self._seen: set[Any] = set()
        self._messages: dict[Any, Any] = {}
        self._texts: dict[tuple[str, str | None, str | None, Surrogates], str] = {}
        self._text_keys: dict[tuple[str, str | None, str | None, Surrogates], frozenset] = {}
        self._anonymizer: Any = None
        self.strings = 0
        self.analysed = 0
        self.from_cache = 0
        self.entities: Counter[str] = Counter()
        self.places: Counter[str] = Counter()
        self.source_entities: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()

    # --- 1. learn --------------------------------------------------------------------------
    def learn(self, records: Iterable[CallRecord]) -> None:
        """Analyse the strings of `records` not analysed yet and remember the PII found."""
        self.collect(records)
        self.analyse_pending()

    def collect(self, records: Iterable[CallRecord]) -> None:
        """Take what JSON keys say and queue the strings not analysed yet."""
        for rec in records:
            try:
                self._collect_record(rec)
            except Exception as exc:  # one unreadable record never stops the others
                self.failed_records[rec.id] = f"could not be read for scrubbing: {_why(exc)}"

    def _collect_record(self, rec: CallRecord) -> None:
        conv = rec.conversation_id
        for msg in [*rec.messages, rec.response]:
            key = message_key(msg)
            scope = self._scope(key, conv) if msg.role in CONTEXT_ROLES else conv
            if (scope, key) not in self._seen:
                self._seen.add((scope, key))
                dump = msg.model_dump(mode="json", exclude_none=True)
                map_message(dump, self._learner(scope), self.hints)
        if rec.tools:
            key = canonical_json(rec.tools)
            scope = self._scope(key, conv)
            if (scope, key) not in self._seen:
                self._seen.add((scope, key))
                map_tools(rec.tools, self._learner(scope))
        learner = self._learner(conv)
        map_metadata(rec.metadata, learner, self.hints)
        learner(rec.conversation_id, None, "metadata")

    def _scope(self, key: Any, conv: str) -> tuple[str, str]:
        """The scope of a context string (system message, tools) seen in `conv`."""
        ctx = self._ctx_keys.get(key)
        if ctx is None:
            ctx = self._ctx_keys[key] = context_key(key)
        convs = self._contexts.setdefault(ctx, set())
        if len(convs) <= self.config.constant_min_conversations:
            convs.add(conv)
        return ("ctx", ctx)

    def _learner(self, scope: Scope) -> Callable[[str, str | None, str], str]:
        def visit(text: str, hint: str | None, place: str) -> str:
            entity = self.hinted(text, hint)
            if entity and isinstance(scope, tuple):
                self._hinted.setdefault(scope, []).append((entity, text))
            elif entity:
                self._remember(entity, text, scope)
            elif len(text) > self.config.max_string_chars:
                self.failures[text] = (
                    f"a string of {len(text):,} characters, over scrub.max_string_chars "
                    f"({self.config.max_string_chars:,})"
                )
            else:
                self._occurs.setdefault(scope, set()).add(text)
                if text not in self.spans and text not in self.failures and _worth(text):
                    self._pending[text] = None
            return text

        return visit

    def analyse_pending(self) -> None:
        """Analyse the queued strings (all at once: the more, the better parallel), then
        learn the values found, each where it belongs."""
        texts, self._pending = list(self._pending), {}
        self._analyse(texts)
        self._settle()

    def close(self) -> None:
        """Stop the analysis workers, if any were started."""
        self.analysis.close()

    def _analyse(self, texts: list[str]) -> None:
        if not texts:
            return
        found = self.cache.get_spans(texts) if self.cache else {}
        self.from_cache += len(found)
        missing = [t for t in texts if t not in found]
        if missing:
            fresh = dict(zip(missing, self.analysis(missing), strict=True))
            self.analysed += len(missing)
            for text, spans in fresh.items():
                if spans is None:
                    why = self.analysis.failures.get(text, "analysis failed")
                    self.failures[text] = f"analysis failed: {why}"
            fresh_ok = {t: s for t, s in fresh.items() if s is not None}
            if self.cache:
                self.cache.put_spans(fresh_ok)
            found.update(fresh_ok)
        self.spans.update(found)

    def _settle(self) -> None:
        """Decide which contexts are constant, then learn every value found where it was
        seen: in its conversation, or (from the constant context) identifiers only."""
        unknown = [k for k in self._contexts if k not in self.constant]
        if self.cache and unknown:
            self.constant |= self.cache.constant_contexts(unknown)
        for ctx, convs in self._contexts.items():
            if ctx not in self.constant and len(convs) >= self.config.constant_min_conversations:
                self.constant.add(ctx)
                self._new_constant.append(ctx)
        for scope, texts in self._occurs.items():
            targets = self._targets(scope)
            for text in texts:
                for start, end, entity, _score in self.spans.get(text, ()):
                    for conv in targets:
                        self._remember(entity, text[start:end], conv)
        for scope, pairs in self._hinted.items():
            targets = self._targets(scope)
            for entity, text in pairs:
                for conv in targets:
                    self._remember(entity, text, conv)
        self._occurs.clear()
        self._hinted.clear()

    def _targets(self, scope: Scope) -> list[str | None]:
        if not isinstance(scope, tuple):
            return [scope]
        if scope[1] in self.constant:
            return [None]
        return sorted(self._contexts.get(scope[1], ()))

    def _remember(self, entity: str, value: str, conversation: str | None) -> None:
        if conversation is None and not real_identifier(entity, value):
            return
        self._new_known += self.known.learn(entity, value, conversation)

    def hinted(self, text: str, hint: str | None) -> str | None:
        """The entity a JSON key names, if the value under it looks like one."""
        if hint == NAME_BY_STRUCTURE:  # a `name` beside contact keys: a name, if it reads so
            words = re.findall(r"[^\W\d_]+", text)
            common = names.common_words()
            if not words or not any(names.is_name(w) or w.lower() not in common for w in words):
                return None  # "adult", "Premium Member"
            hint = "PERSON"
        if not hint or hint not in self.types or not text.strip():
            return None
        letters = sum(c.isalpha() for c in text)
        digits = sum(c.isdigit() for c in text)
        ok = {
            "PERSON": letters > 0 and not digits and "@" not in text and _few_words(text),
            "EMAIL_ADDRESS": "@" in text,
            "PHONE_NUMBER": digits >= 7,
            "ZIP_CODE": digits >= 3,
            "DATE_OF_BIRTH": digits >= 4,
            "USER_ID": " " not in text.strip() and _has_name_part(text),
            "STREET_ADDRESS": letters + digits >= 3,
            "SECRET": len(text) >= 4 and text.lower() not in names.common_words(),
            "IP_ADDRESS": _is_ip(text),
        }.get(hint, letters + digits >= 4)
        return hint if ok else None

    # --- 2. scrub --------------------------------------------------------------------------
    def scrub(self, record: CallRecord) -> CallRecord:
        """The record with every string scrubbed; same id (lineage), same type. Raises
        Unscrubbable when it cannot be."""
        if record.id in self.failed_records:
            raise Unscrubbable(self.failed_records[record.id])
        counted_before = sum(self.entities.values())
        try:
            data = self._replace_record(record)
            out = CallRecord.model_validate(data)
        except Unscrubbable:
            raise
        except Exception as exc:
            raise Unscrubbable(f"could not be scrubbed: {_why(exc)}") from None
        self.sources[record.source] += 1
        self.source_entities[record.source] += sum(self.entities.values()) - counted_before
        return out

    def end_window(self) -> None:
        """Persist what this window learnt; forget its per-message memo."""
        if self.cache:
            self.cache.add_known(self._new_known)
            self.cache.add_placeholders(self.surrogates.new_placeholders)
            self.cache.add_constant(self._new_constant)
        self._new_known, self._new_constant = [], []
        self.surrogates.new_placeholders.clear()  # the conversations' views share it
        self.surrogates.forget_conversations()
        memos = (self._messages, self._seen, self._texts, self._text_keys, self._contexts,
                 self._ctx_keys)  # fmt: skip
        for memo in memos:
            memo.clear()
        self.failures.clear()
        self.failed_records.clear()
        if len(self.spans) > 200_000:
            self.spans.clear()

    def _replace_record(self, rec: CallRecord) -> dict[str, Any]:
        """Every string of `rec` replaced, each distinct message once per scope: the context
        (system messages, tools) with the global surrogates, so that it scrubs alike in
        every conversation; then the rest with the conversation's, except the values
        replaced in the context, which keep their global surrogate in the whole record."""
        conv = rec.conversation_id
        glob = self.surrogates
        shared: set[tuple[str, str]] = set()
        done: dict[int, Message] = {}
        calls = [*rec.messages, rec.response]
        for i, msg in enumerate(calls):
            if msg.role not in CONTEXT_ROLES:
                continue
            key = message_key(msg)
            constant = self._is_constant(key)
            memo = ("const", key) if constant else (conv, key)
            if memo not in self._messages:
                dump = msg.model_dump(mode="json", exclude_none=True)
                found: set[tuple[str, str]] = set()
                visit = self._replacer(None if constant else conv, glob, found)
                new = Message.model_validate(map_message(dump, visit, self.hints))
                self._messages[memo] = (new, frozenset(found))
            done[i], keys = self._messages[memo]
            shared |= keys
        tools_key = canonical_json(rec.tools)
        constant = bool(rec.tools) and self._is_constant(tools_key)
        memo = ("const", tools_key) if constant else (conv, tools_key)
        if memo not in self._messages:
            found = set()
            visit = self._replacer(None if constant else conv, glob, found)
            self._messages[memo] = (map_tools(rec.tools, visit), frozenset(found))
        tools, keys = self._messages[memo]
        shared |= keys
        view = glob.in_conversation(conv, frozenset(shared))
        messages = []
        for i, msg in enumerate(calls):
            if i not in done:
                memo = (conv, view, message_key(msg))
                if memo not in self._messages:
                    dump = msg.model_dump(mode="json", exclude_none=True)
                    visit = self._replacer(conv, view)
                    self._messages[memo] = Message.model_validate(
                        map_message(dump, visit, self.hints)
                    )
                done[i] = self._messages[memo]
            messages.append(done[i])
        visit = self._replacer(conv, view)
        data = {name: getattr(rec, name) for name in _SCALARS}
        data.update(
            messages=messages[:-1],
            response=messages[-1],
            tools=tools,
            metadata=map_metadata(rec.metadata, visit, self.hints),
            conversation_id=visit(rec.conversation_id, None, "metadata"),
        )
        return data

    def _is_constant(self, key: Any) -> bool:
        ctx = self._ctx_keys.get(key)
        if ctx is None:
            ctx = self._ctx_keys[key] = context_key(key)
        return ctx in self.constant

    def _replacer(
        self,
        conversation: str | None,
        surrogates: Surrogates,
        found: set[tuple[str, str]] | None = None,
    ) -> Callable[[str, str | None, str], str]:
        """`visit` for walk.py: values known in `conversation` (None: the constant context)
        replaced by `surrogates`; what was replaced is added to `found`, when given."""

        def visit(text: str, hint: str | None, place: str) -> str:
            memo = (text, hint, conversation, surrogates)
            out = self._replace(text, hint, place, conversation, surrogates, memo)
            if found is not None:
                found.update(self._text_keys.get(memo, ()))
            return out

        return visit

    def _replace(
        self,
        text: str,
        hint: str | None,
        place: str,
        conv: str | None,
        surrogates: Surrogates,
        memo: tuple[str, str | None, str | None, Surrogates],
    ) -> str:
        """`text` with its PII replaced; `conv` None: it is in the constant context."""
        if memo in self._texts:
            return self._texts[memo]
        if text in self.failures:
            raise Unscrubbable(self.failures[text])
        entity = self.hinted(text, hint)
        if entity and (conv is not None or real_identifier(entity, text)):
            spans: list[Span] = [(0, len(text), entity, 1.0)]
        else:
            found = self.spans.get(text, []) + self.known.find(text, conv)
            if conv is None:  # the constant context: real identifiers only
                found = [s for s in found if real_identifier(s[2], text[s[0] : s[1]])]
            spans = resolve(found)
        out = self._anonymize(text, spans, surrogates) if spans else text
        keys: set[tuple[str, str]] = set()
        for span in spans:
            self.entities[span[2]] += 1
            self.places[place] += 1
            keys |= shared_keys(span[2], text[span[0] : span[1]])
        self._texts[memo] = out
        if keys:
            self._text_keys[memo] = frozenset(keys)
        self.strings += 1
        return out

    def _anonymize(self, text: str, spans: list[Span], surrogates: Surrogates) -> str:
        if self._anonymizer is None:
            with without_torch():
                from presidio_anonymizer import AnonymizerEngine

            self._anonymizer = AnonymizerEngine()
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        operators: dict[str, Any] = {}
        for _s, _e, entity, _score in spans:
            if entity not in operators:
                if self.config.operator == "redact":
                    operators[entity] = OperatorConfig("redact", {})
                else:
                    fn = _bind(surrogates.replace, entity)
                    operators[entity] = OperatorConfig("custom", {"lambda": fn})
        result = self._anonymizer.anonymize(
            text,
            [RecognizerResult(e, s, t, sc) for s, t, e, sc in spans],
            operators=operators,
            merge_entities_with_spaces=False,
        )
        return result.text

    def counts(self) -> dict[str, Any]:
        return {
            "entities": dict(sorted(self.entities.items())),
            "places": dict(sorted(self.places.items())),
            "sources": dict(sorted(self.sources.items())),
            "source_entities": dict(sorted(self.source_entities.items())),
        }


def message_key(msg: Message) -> Any:
    """What tells two messages apart, cheaper to build than their canonical JSON."""
    content = (
        msg.content
        if msg.content is None or isinstance(msg.content, str)
        else (canonical_json(msg.content))
    )
    calls = tuple(
        (c.id, c.function.name, c.function.arguments, canonical_json(c.model_dump()))
        if c.model_extra or c.function.model_extra
        else (c.id, c.function.name, c.function.arguments)
        for c in msg.tool_calls or ()
    )
    extra = canonical_json(msg.model_extra) if msg.model_extra else None
    return (msg.role, content, msg.name, msg.tool_call_id, calls, extra)


def _why(exc: BaseException) -> str:
    """An error as a reason to store: a validation error's fields, else its type and
    place; never its message, which may quote the data."""
    if isinstance(exc, ValidationError):
        return "; ".join(describe_errors(exc))[:500]
    return describe(exc)


def _bind(fn: Any, entity: str) -> Any:
    return lambda text: fn(entity, text)


def _worth(text: str) -> bool:
    return len(text) >= 3 and bool(_ALNUM.search(text))


def _few_words(text: str) -> bool:
    return len(text) <= 100 and len(text.split()) <= 8


def _has_name_part(text: str) -> bool:
    common = names.common_words()
    return any(len(p) >= 2 and p.lower() not in common for p in re.findall(r"[^\W\d_]+", text))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip().split("/")[0])
    except ValueError:
        return False
    return True
