"""Scrubbing records in two steps, so that every copy of a value is replaced alike:

1. `learn(records)`: gather the distinct strings of the records (each message once, however
   many calls repeat it), take what JSON keys say (`"zip": "32169"` is a zip code), analyse
   each string not analysed before (cache, then Presidio, in parallel), and remember every
   value found as PII;
2. `scrub(record)`: each string with its hits and every known value in it replaced
   (Presidio's AnonymizerEngine with slimline's surrogates), each distinct message once.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from slimline.record import CallRecord, Message, canonical_json
from slimline.tasks.scrub import names
from slimline.tasks.scrub.analysis import Analysis
from slimline.tasks.scrub.cache import ScrubCache
from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.scrub.heavy import without_torch
from slimline.tasks.scrub.known import KnownValues
from slimline.tasks.scrub.spans import Span, resolve
from slimline.tasks.scrub.surrogates import Surrogates
from slimline.tasks.scrub.walk import map_message, map_metadata, map_tools

_ALNUM = re.compile(r"[^\W_]")
_SCALARS = (
    "id", "source", "agent", "timestamp", "model", "latency_ms", "prompt_tokens",
    "completion_tokens", "cost_usd",
)  # fmt: skip


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
            for entity, value in cache.known_values():
                self.known.add(entity, value)
        self._new_known: list[tuple[str, str]] = []
        self.spans: dict[str, list[Span]] = {}  # analysed string -> its hits
        self.analysis = Analysis(config)
        self._pending: dict[str, None] = {}
        self._seen_messages: set[Any] = set()
        self._messages: dict[Any, Any] = {}
        self._texts: dict[tuple[str, str | None], str] = {}
        self._anonymizer: Any = None
        self._operators: dict[str, Any] = {}
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

        def visit(text: str, hint: str | None, place: str) -> str:
            entity = self.hinted(text, hint)
            if entity:
                self._remember(entity, text)
            elif text not in self.spans and _worth_analysing(text):
                self._pending[text] = None
            return text

        for rec in records:
            self._walk(rec, visit, learning=True)

    def analyse_pending(self) -> None:
        """Analyse the queued strings (all at once: the more, the better parallel)."""
        texts, self._pending = list(self._pending), {}
        self._analyse(texts)

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
            if self.cache:
                self.cache.put_spans(fresh)
            found.update(fresh)
        for text, spans in found.items():
            self.spans[text] = spans
            for start, end, entity, _score in spans:
                self._remember(entity, text[start:end])

    def _remember(self, entity: str, value: str) -> None:
        before = len(self.known)
        self.known.learn(entity, value)
        if len(self.known) > before:
            self._new_known.append((entity, value))

    def hinted(self, text: str, hint: str | None) -> str | None:
        """The entity a JSON key names, if the value under it looks like one."""
        if not hint or hint not in self.types or not text.strip():
            return None
        letters = sum(c.isalpha() for c in text)
        digits = sum(c.isdigit() for c in text)
        ok = {
            "PERSON": letters > 0 and len(text) <= 100,
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
        """The record with every string scrubbed; same id (lineage), same type."""
        self.sources[record.source] += 1
        counted_before = sum(self.entities.values())
        data = self._walk(record, self._replace, learning=False)
        self.source_entities[record.source] += sum(self.entities.values()) - counted_before
        return CallRecord.model_validate(data)

    def end_window(self) -> None:
        """Persist what this window learnt; forget its per-message memo."""
        if self.cache:
            self.cache.add_known(self._new_known)
            self.cache.add_placeholders(self.surrogates.new_placeholders)
        self._new_known = []
        self.surrogates.new_placeholders = {}
        self._messages.clear()
        self._seen_messages.clear()
        self._texts.clear()
        if len(self.spans) > 200_000:
            self.spans.clear()

    def _walk(self, rec: CallRecord, visit: Any, learning: bool) -> dict[str, Any]:
        """Map every string of `rec` through `visit`, each distinct message once."""
        messages = []
        for msg in [*rec.messages, rec.response]:
            key = _message_key(msg)
            if learning:
                if key not in self._seen_messages:
                    self._seen_messages.add(key)
                    map_message(msg.model_dump(mode="json", exclude_none=True), visit, self.hints)
                continue
            if key not in self._messages:
                dump = msg.model_dump(mode="json", exclude_none=True)
                self._messages[key] = Message.model_validate(map_message(dump, visit, self.hints))
            messages.append(self._messages[key])
        tools_key = canonical_json(rec.tools)
        if learning:
            if rec.tools and tools_key not in self._seen_messages:
                self._seen_messages.add(tools_key)
                map_tools(rec.tools, visit)
            map_metadata(rec.metadata, visit, self.hints)
            visit(rec.conversation_id, None, "metadata")
            return {}
        if tools_key not in self._messages:
            self._messages[tools_key] = map_tools(rec.tools, visit)  # type: ignore[assignment]
        data = {name: getattr(rec, name) for name in _SCALARS}
        data.update(
            messages=messages[:-1],
            response=messages[-1],
            tools=self._messages[tools_key],
            metadata=map_metadata(rec.metadata, visit, self.hints),
            conversation_id=visit(rec.conversation_id, None, "metadata"),
        )
        return data

    def _replace(self, text: str, hint: str | None, place: str) -> str:
        memo = (text, hint)
        if memo in self._texts:
            return self._texts[memo]
        entity = self.hinted(text, hint)
        if entity:
            spans: list[Span] = [(0, len(text), entity, 1.0)]
        else:
            spans = resolve(self.spans.get(text, []) + self.known.find(text))
        out = self._anonymize(text, spans) if spans else text
        for span in spans:
            self.entities[span[2]] += 1
            self.places[place] += 1
        self._texts[memo] = out
        self.strings += 1
        return out

    def _anonymize(self, text: str, spans: list[Span]) -> str:
        if self._anonymizer is None:
            with without_torch():
                from presidio_anonymizer import AnonymizerEngine

            self._anonymizer = AnonymizerEngine()
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        for _s, _e, entity, _score in spans:
            if entity not in self._operators:
                if self.config.operator == "redact":
                    self._operators[entity] = OperatorConfig("redact", {})
                else:
                    fn = _bind(self.surrogates.replace, entity)
                    self._operators[entity] = OperatorConfig("custom", {"lambda": fn})
        result = self._anonymizer.anonymize(
            text,
            [RecognizerResult(e, s, t, sc) for s, t, e, sc in spans],
            operators=self._operators,
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


def _message_key(msg: Message) -> Any:
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


def _bind(fn: Any, entity: str) -> Any:
    return lambda text: fn(entity, text)


def _worth_analysing(text: str) -> bool:
    return len(text) >= 3 and bool(_ALNUM.search(text))


def _has_name_part(text: str) -> bool:
    common = names.common_words()
    return any(len(p) >= 2 and p.lower() not in common for p in re.findall(r"[^\W\d_]+", text))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip().split("/")[0])
    except ValueError:
        return False
    return True
