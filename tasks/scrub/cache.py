"""Scrub's memory across runs, in the raw store's `scrub_cache` table (beside the raw data,
since it is derived from it):

- `s...`: the spans found in a string, keyed by a keyed hash of the config fingerprint and
  the string, so a string analysed in an earlier run is not analysed again and a config
  change starts afresh;
- `v...`: values known to be PII (found under a JSON key or by a recognizer), looked for in
  later strings (everywhere, or in their conversation: see known.py);
- `p...`: placeholder numbers (`<EMAIL_3>`), keyed by the value and its conversation (none
  for the context), so numbering goes on across runs and no number reaches another
  conversation (it holds no surrogate: those are derived again from the key);
- `c...`: the system prompts and tool lists found to be the agent's constant context
  (context.py), so a later run treats them alike even when it sees them in one call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import select

from slimline.store import RawStore
from slimline.store import schema as s
from slimline.store.base import insert_ignore
from slimline.tasks.scrub.known import Known
from slimline.tasks.scrub.spans import Span

_CHUNK = 500


class ScrubCache:
    """Read and write scrub's rows of `scrub_cache` for one key and config fingerprint."""

    def __init__(self, raw: RawStore, key: str, fingerprint: str):
        self.engine = raw.engine
        self._key = key.encode()
        self.fingerprint = fingerprint

    def _k(self, kind: str, *parts: str) -> str:
        body = "\x00".join(parts).encode()
        return kind + hmac.new(self._key, body, hashlib.sha256).hexdigest()[:63]

    # --- spans ---------------------------------------------------------------------------
    def get_spans(self, texts: Sequence[str]) -> dict[str, list[Span]]:
        keys = {self._k("s", self.fingerprint, t): t for t in texts}
        out: dict[str, list[Span]] = {}
        c = s.scrub_cache.c
        names = list(keys)
        with self.engine.connect() as conn:
            for start in range(0, len(names), _CHUNK):
                chunk = names[start : start + _CHUNK]
                for k, value in conn.execute(select(c.key, c.value).where(c.key.in_(chunk))):
                    out[keys[k]] = [tuple(x) for x in json.loads(value)]  # type: ignore[misc]
        return out

    def put_spans(self, spans: dict[str, list[Span]]) -> None:
        rows = [
            {"key": self._k("s", self.fingerprint, t), "value": json.dumps(v)}
            for t, v in spans.items()
        ]
        self._insert(rows)

    # --- known values --------------------------------------------------------------------
    def known_values(self) -> list[Known]:
        """(entity, value, conversation or None) learnt by earlier runs with this config."""
        c = s.scrub_cache.c
        out = []
        with self.engine.connect() as conn:
            for (value,) in conn.execute(select(c.value).where(c.key.like("v%"))):
                item = json.loads(value)
                if item.get("fp") == self.fingerprint:
                    out.append((item["e"], item["v"], item.get("c")))
        return out

    def add_known(self, known: Iterable[Known]) -> None:
        rows = [
            {
                "key": self._k("v", self.fingerprint, e, v, conv or ""),
                "value": json.dumps({"fp": self.fingerprint, "e": e, "v": v, "c": conv}),
            }
            for e, v, conv in known
        ]
        self._insert(rows)

    # --- constant context ----------------------------------------------------------------
    def constant_contexts(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` (context.context_key) an earlier run found constant."""
        names = {self._k("c", k): k for k in keys}
        c = s.scrub_cache.c
        found: set[str] = set()
        chunk_keys = list(names)
        with self.engine.connect() as conn:
            for start in range(0, len(chunk_keys), _CHUNK):
                chunk = chunk_keys[start : start + _CHUNK]
                found |= {names[k] for (k,) in conn.execute(select(c.key).where(c.key.in_(chunk)))}
        return found

    def add_constant(self, keys: Iterable[str]) -> None:
        self._insert([{"key": self._k("c", k), "value": "1"} for k in keys])

    # --- placeholder numbers -------------------------------------------------------------
    def placeholders(self) -> dict[str, int]:
        c = s.scrub_cache.c
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for (value,) in conn.execute(select(c.value).where(c.key.like("p%"))):
                item = json.loads(value)
                out[item["k"]] = int(item["n"])
        return out

    def add_placeholders(self, numbers: dict[str, int]) -> None:
        rows = [
            {"key": self._k("p", k), "value": json.dumps({"k": k, "n": n})}
            for k, n in numbers.items()
        ]
        self._insert(rows)

    def _insert(self, rows: list[dict[str, str]]) -> None:
        if not rows:
            return
        with self.engine.begin() as conn:
            for start in range(0, len(rows), _CHUNK):
                insert_ignore(conn, s.scrub_cache, rows[start : start + _CHUNK])
