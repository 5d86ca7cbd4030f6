"""Scrub: calls/s on the bundled tau2 calls against a naive loop, and the quality figures.

- slimline: `run_scrub` over all 1,908 calls in a fresh SLIMLINE_HOME (raw store
  filled before the clock starts; no cache from an earlier run; MLflow off), as
  `slimline scrub` runs it: each distinct string analysed once, spaCy's `nlp.pipe`
  batches, `scrub.workers` analysis processes.
- naive: what a first script does, on an even subset of the calls (it is slow): per call,
  per string, Presidio's analyze on that one string, then anonymize; nothing shared
  between strings or calls. It uses the same recognizers, filters and replacements, so its
  findings are ours: "equal recall" is checked by comparing its output with ours call by
  call.
- quality: recall per kind on PII planted into real calls (user text, agent text, tool
  arguments, tool results), precision with the most common false positives, and the share
  of the teacher's copied tool-call arguments that stay copies after scrubbing.
- names (issue 15): 220 uncommon names of 14 languages written by hand (scrub_names.py),
  planted into the last call of each conversation in each place (a customer record a tool
  returned, the customer's own words, a signature, and free text with no cue), recall per
  place and language, and the precision of all replaced spans.
- constant context: of the distinct system-prompt strings and tool-description strings of
  the bundled calls, how many the full run changed (should be none).
Aim: >= 10x the naive calls/s; recall >= 99.5% (emails, phones, cards, SSNs, IPs, secrets)
and >= 95% (names, street addresses); uncommon names >= 98% in each target place;
precision >= 95%; copy consistency >= 99%.
Knobs: SLIMLINE_BENCH_NAIVE_CALLS (default 24), SLIMLINE_BENCH_PLANT_PER_KIND (300).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import tau2_objects


def _records() -> list[Any]:
    from slimline.tasks.collect.formats import from_chat_completion_pair

    return [
        from_chat_completion_pair(obj, "tau2", f"line {n}")
        for n, obj in enumerate(tau2_objects(), 1)
    ]


def _ours(records: list[Any], home: Path) -> tuple[Any, list[Any], set[str]]:
    """The run, its scrubbed calls, and the context keys it found constant."""
    from slimline.config import load_settings
    from slimline.store import open_raw, open_work
    from slimline.tasks.scrub.cache import ScrubCache
    from slimline.tasks.scrub.stage import SURROGATE_KEY, run_scrub

    settings = load_settings(home=home)
    home.mkdir(parents=True, exist_ok=True)
    raw, work = open_raw(settings), open_work(settings)
    for start in range(0, len(records), 500):
        raw.add_calls(records[start : start + 500])
    result = run_scrub(settings, raw, work, report=False)
    by_id = {r.id: r for r in work.iter_scrubbed()}
    cache = ScrubCache(raw, raw.secret(SURROGATE_KEY), settings.scrub.fingerprint())
    constant = cache.constant_contexts(sorted(_context_keys(records)))
    raw.close()
    work.close()
    return result, [by_id[r.id] for r in records], constant


def _context_keys(records: list[Any]) -> set[str]:
    from slimline.record import canonical_json
    from slimline.tasks.scrub.context import context_key
    from slimline.tasks.scrub.scrubber import CONTEXT_ROLES, message_key

    keys = {context_key(canonical_json(r.tools)) for r in records if r.tools}
    for r in records:
        keys |= {context_key(message_key(m)) for m in r.messages if m.role in CONTEXT_ROLES}
    return keys


class _OneByOne:
    """The naive analysis: each string alone through Presidio's analyze."""

    def __init__(self, analyzer: Any):
        self.analyzer = analyzer

    def __call__(self, texts: list[str]) -> list[Any]:
        return [self.analyzer.keep(t, self.analyzer.engine.analyze(
            text=t, language="en", entities=self.analyzer.entities,
            score_threshold=self.analyzer.min_score)) for t in texts]  # fmt: skip

    def close(self) -> None:
        pass


def _naive(records: list[Any], key: str, constant: set[str]) -> tuple[float, list[Any]]:
    from slimline.tasks.scrub.config import ScrubConfig
    from slimline.tasks.scrub.engine import local_analyzer
    from slimline.tasks.scrub.scrubber import Scrubber

    config = ScrubConfig(workers=1, use_cache=False)
    analyzer = local_analyzer(config)
    out = []
    start = time.perf_counter()
    for rec in records:
        scrubber = Scrubber(config, key)  # nothing carried from one call to the next
        scrubber.analysis = _OneByOne(analyzer)  # type: ignore[assignment]
        scrubber.constant |= constant  # what the whole run saw: one call cannot tell
        scrubber.learn([rec])
        out.append(scrubber.scrub(rec))
    return time.perf_counter() - start, out


def _quality(records: list[Any], scrubbed: list[Any], per_kind: int) -> dict[str, Any]:
    from benchmarks import scrub_quality as quality
    from slimline.tasks.scrub.config import ScrubConfig
    from slimline.tasks.scrub.scrubber import Scrubber

    kept, total = quality.copy_consistency(records, scrubbed)
    last: dict[str, Any] = {}
    for rec in records:
        last[rec.conversation_id] = rec
    base = list(last.values())
    planted_calls, planted = quality.plant_pii(base, per_kind=per_kind, seed=11)
    scrubber = Scrubber(ScrubConfig(), "9b" * 32)
    try:
        scrubber.learn(planted_calls)
        out = [scrubber.scrub(r) for r in planted_calls]
    finally:
        scrubber.close()
    found = quality.recall(planted, out)
    truth = {p.value for p in planted} | {t for p in planted for t in p.value.split()}
    truth |= quality.pii_named_by_keys(scrubber, planted_calls)
    score = quality.precision(scrubber.spans, truth)
    return {
        "copy_consistency": round(kept / max(1, total), 4),
        "copied_values": total,
        "recall": {k: round(hit / n, 4) for k, (hit, n) in found.items()},
        "planted_per_kind": per_kind,
        "planted_in_calls": len(base),
        "precision": round(score.value, 4),
        "spans_true": score.true,
        "spans_false": score.false,
        "top_false_positives": [
            f"{entity}: {text!r} x{n}" for (entity, text), n in score.false_by_text.most_common(8)
        ],
        "missed": [f"{p.kind}: {p.value!r} ({p.place})" for p in quality.missed(planted, out)],
        "constant_context": quality.context_changes(records, scrubbed),
        "names": _names(base),
    }


def _names(base: list[Any]) -> dict[str, Any]:
    from benchmarks import scrub_names
    from slimline.tasks.scrub.config import ScrubConfig

    figures = scrub_names.measure(base, ScrubConfig())
    for place in scrub_names.PLACES:
        figures[place]["missed"] = figures[place]["missed"][:10]
    return figures


def result_workers() -> int:
    from slimline.config import load_settings

    return load_settings().scrub.workers


def main(out_dir: Path) -> dict[str, Any]:
    records = _records()
    naive_n = int(os.environ.get("SLIMLINE_BENCH_NAIVE_CALLS", "24"))
    per_kind = int(os.environ.get("SLIMLINE_BENCH_PLANT_PER_KIND", "300"))
    with tempfile.TemporaryDirectory(prefix="slimline-bench-scrub-") as tmp:
        result, ours, constant = _ours(records, Path(tmp) / "home")
        from slimline.store import RawStore

        key = RawStore(f"sqlite:///{Path(tmp) / 'home' / 'raw.db'}").secret("scrub-surrogate-key")
    step = max(1, len(records) // naive_n)
    subset = list(range(0, len(records), step))[:naive_n]
    naive_s, naive_out = _naive([records[i] for i in subset], key, constant)
    same = sum(
        naive_out[j].model_dump(mode="json") == ours[i].model_dump(mode="json")
        for j, i in enumerate(subset)
    )
    ours_rate = result.scrubbed / result.seconds
    naive_rate = len(subset) / naive_s
    figures: dict[str, Any] = {
        "calls": result.scrubbed,
        "seconds": result.seconds,
        "calls_per_s": round(ours_rate, 2),
        "quarantined": result.quarantined,
        "distinct_strings": result.strings,
        "analysed_strings": result.analysed,
        "naive_calls": len(subset),
        "naive_seconds": round(naive_s, 2),
        "naive_calls_per_s": round(naive_rate, 3),
        "speedup": round(ours_rate / naive_rate, 1),
        "naive_output_equal_to_ours": f"{same}/{len(subset)}",
        "entities": result.entities,
        "places": result.places,
        "workers": result_workers(),
    }
    figures.update(_quality(records, ours, per_kind))
    for key_, value in figures.items():
        print(f"   {key_}: {value}")
    return figures
