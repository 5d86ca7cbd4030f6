"""The scrub stage as one call: `scrub_new_calls(settings)` scrubs every raw call stored since
the last run into the work store, and reports what it found (counts only, never values) to
MLflow. A call that cannot be scrubbed is set aside in the work store's scrub quarantine
(its id and the reason, never its content) and counted; the others go on.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slimline.config import Settings
from slimline.record import CallRecord
from slimline.store import RawStore, WorkStore
from slimline.tasks.scrub.cache import ScrubCache
from slimline.tasks.scrub.engine import resolve_spacy_model
from slimline.tasks.scrub.scrubber import Scrubber, Unscrubbable

SURROGATE_KEY = "scrub-surrogate-key"
STAGE_TAG = "slimline.stage"
_LOG = logging.getLogger("slimline.scrub")


class ScrubError(RuntimeError):
    """Scrub could not run (not one call: those are set aside); never quotes content."""


@dataclass
class ScrubResult:
    """What one scrub run did. Counts only: nothing here is a value from the data."""

    run_id: str
    scrubbed: int = 0
    strings: int = 0  # distinct strings looked at
    analysed: int = 0  # strings the analyzer ran on (the others came from the cache)
    from_cache: int = 0
    entities: dict[str, int] = field(default_factory=dict)  # per entity type
    sources: dict[str, int] = field(default_factory=dict)  # calls per collection source
    source_entities: dict[str, int] = field(default_factory=dict)  # hits per source
    places: dict[str, int] = field(default_factory=dict)  # hits per place in a call
    quarantined: int = 0  # calls set aside (work store's scrub_quarantine), with a reason
    quarantine_reasons: dict[str, int] = field(default_factory=dict)  # per kind of reason
    seconds: float = 0.0
    mlflow_run_id: str | None = None

    @property
    def calls_per_s(self) -> float:
        return round(self.scrubbed / self.seconds, 2) if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "calls_per_s": self.calls_per_s}


def scrub_new_calls(
    settings: Settings,
    raw: RawStore | None = None,
    work: WorkStore | None = None,
    *,
    report: bool = True,
) -> ScrubResult:
    """Scrub the raw calls stored after the work store's newest one; log the run to MLflow
    (nested when a run is active) unless `report` is False."""
    from slimline.runtime import open_stores

    own = raw is None or work is None
    if own:
        raw, work = open_stores(settings)
    assert raw is not None and work is not None
    try:
        return _run(settings, raw, work, report)
    finally:
        if own:
            raw.close()
            work.close()


def _run(settings: Settings, raw: RawStore, work: WorkStore, report: bool) -> ScrubResult:
    config = settings.scrub
    started = time.perf_counter()
    cursor, last = work.scrub_watermark(), raw.max_seq()
    if cursor >= last:  # nothing new: check the config, record the run, done
        resolve_spacy_model(config.spacy_model)
        result = ScrubResult(run_id=work.start_run("scrub"))
        result.seconds = round(time.perf_counter() - started, 3)
        work.finish_run(result.run_id, result.summary())
        return result
    key = raw.secret(SURROGATE_KEY)
    cache = ScrubCache(raw, key, config.fingerprint()) if config.use_cache else None
    scrubber = Scrubber(config, key, cache)  # a config it cannot use fails here
    run_id = work.start_run("scrub")
    result = ScrubResult(run_id=run_id)
    try:
        while cursor < last:
            window_end = _learn_window(scrubber, raw, cursor, last, config.window)
            result.scrubbed += _scrub_window(
                scrubber, raw, work, cursor, window_end, run_id, result
            )
            scrubber.end_window()
            cursor = window_end
    except BaseException:
        _finish(work, run_id, result, scrubber, started, "failed")
        raise
    finally:
        scrubber.close()
    _finish(work, run_id, result, scrubber, started, "completed")
    _LOG.info(
        "scrub %s: %d calls, %d set aside, %d strings analysed, %d from cache, in %.1f s",
        run_id, result.scrubbed, result.quarantined, result.analysed, result.from_cache,
        result.seconds,
    )  # fmt: skip
    if report and (result.scrubbed or result.quarantined):
        result.mlflow_run_id = log_to_mlflow(settings, result)
    return result


def _calls(raw: RawStore, after: int, upto: int) -> Iterator[tuple[int, CallRecord]]:
    for seq, rec in raw.iter_calls(after_seq=after):
        if seq > upto:
            return
        yield seq, rec


def _learn_window(scrubber: Scrubber, raw: RawStore, after: int, last: int, size: int) -> int:
    """Learn from up to `size` calls after `after`; returns the seq of the last one."""
    end, seen = after, 0
    batch: list[CallRecord] = []
    for seq, rec in _calls(raw, after, last):
        batch.append(rec)
        end, seen = seq, seen + 1
        if len(batch) >= 256:
            scrubber.collect(batch)
            batch = []
        if seen >= size:
            break
    scrubber.collect(batch)
    scrubber.analyse_pending()
    return end if end > after else last


def _scrub_window(
    scrubber: Scrubber,
    raw: RawStore,
    work: WorkStore,
    after: int,
    upto: int,
    run_id: str,
    result: ScrubResult,
) -> int:
    """Scrub the window's calls into the work store; set aside (and count) each call that
    cannot be scrubbed, in the same transaction as the batch it falls in."""
    written = 0
    batch: list[tuple[int, CallRecord]] = []
    aside: list[tuple[int, str, str]] = []
    for seq, rec in _calls(raw, after, upto):
        try:
            batch.append((seq, scrubber.scrub(rec)))
        except Unscrubbable as exc:
            aside.append((seq, rec.id, exc.reason))
            kind = reason_kind(exc.reason)
            result.quarantine_reasons[kind] = result.quarantine_reasons.get(kind, 0) + 1
            _LOG.warning("call %s (raw seq %d) set aside: %s", rec.id, seq, exc.reason)
        if len(batch) + len(aside) >= scrubber.config.batch_size:
            work.add_scrubbed(batch, run_id, quarantined=aside)
            written, result.quarantined = written + len(batch), result.quarantined + len(aside)
            batch, aside = [], []
    if batch or aside:
        work.add_scrubbed(batch, run_id, quarantined=aside)
        written, result.quarantined = written + len(batch), result.quarantined + len(aside)
    return written


def reason_kind(reason: str) -> str:
    """A short name for a kind of reason, for counts: too_long, analysis, scrub."""
    if "max_string_chars" in reason:
        return "too_long"
    return "analysis" if reason.startswith("analysis failed") else "scrub"


def _finish(
    work: WorkStore,
    run_id: str,
    result: ScrubResult,
    scrubber: Scrubber,
    started: float,
    status: str,
) -> None:
    counts = scrubber.counts()
    result.entities = counts["entities"]
    result.places = counts["places"]
    result.sources = {source_label(k): v for k, v in counts["sources"].items()}
    result.source_entities = {source_label(k): v for k, v in counts["source_entities"].items()}
    result.strings = scrubber.strings
    result.analysed = scrubber.analysed
    result.from_cache = scrubber.from_cache
    result.seconds = round(time.perf_counter() - started, 3)
    work.finish_run(run_id, result.summary(), status=status)


def source_label(source: str) -> str:
    """A short name for a collection source: the file's name (paths may name a person's
    home folder), in the characters MLflow allows in a metric name."""
    name = Path(source).name or source
    return re.sub(r"[^A-Za-z0-9_.\- ]", "_", name)[:120] or "unknown"


def log_to_mlflow(settings: Settings, result: ScrubResult) -> str:
    """One MLflow run tagged slimline.stage=scrub (nested in the active run, if any) with
    the run's counts as metrics. Returns its run id."""
    import mlflow

    from slimline.runtime import mlflow_experiment

    nested = mlflow.active_run() is not None
    if not nested:
        mlflow_experiment(settings)
    metrics: dict[str, float] = {
        "scrubbed_calls": result.scrubbed,
        "strings": result.strings,
        "analysed_strings": result.analysed,
        "cached_strings": result.from_cache,
        "seconds": result.seconds,
        "calls_per_s": result.calls_per_s,
        "entities_total": sum(result.entities.values()),
        "quarantined_calls": result.quarantined,
    }
    metrics.update({f"quarantined.{k}": v for k, v in result.quarantine_reasons.items()})
    metrics.update({f"entities.{k}": v for k, v in result.entities.items()})
    metrics.update({f"place.{k}": v for k, v in result.places.items()})
    metrics.update({f"source.{k}.calls": v for k, v in result.sources.items()})
    metrics.update({f"source.{k}.entities": v for k, v in result.source_entities.items()})
    config = settings.scrub
    with mlflow.start_run(
        run_name="scrub",
        nested=nested,
        tags={STAGE_TAG: "scrub", "slimline.scrub_run_id": result.run_id},
    ) as run:
        mlflow.log_params(
            {
                "operator": config.operator,
                "spacy_model": Path(config.spacy_model).name,
                "config_fingerprint": config.fingerprint(),
                "workers": config.workers,
                "entity_types": len(config.scrubbed_types()),
            }
        )
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        return run.info.run_id
