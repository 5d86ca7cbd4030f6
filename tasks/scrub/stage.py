"""The scrub stage: `run_scrub(settings)` scrubs every raw call stored since the last run into
the work store, and reports what it found (counts only, never values) to MLflow, under the
night's run when one is given. A call that cannot be scrubbed is set aside in the work
store's scrub quarantine (its id and the reason, never its content) and counted; the others
go on.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

from slimline.config import Settings
from slimline.prompt import CONTEXT_KEY_FIELD, CONTEXT_SECRET, record_context_key
from slimline.record import CallRecord
from slimline.store import RawStore, WorkStore, open_raw, open_work
from slimline.tasks.scrub.cache import ScrubCache
from slimline.tasks.scrub.engine import resolve_spacy_model
from slimline.tasks.scrub.result import ScrubResult
from slimline.tasks.scrub.scrubber import Scrubber, Unscrubbable
from slimline.tasks.scrub.surrogates import SURROGATE_VERSION
from slimline.tracking import stage_run

SURROGATE_KEY = "scrub-surrogate-key"
# the work store's state: the surrogate version its scrubbed calls were all made with
SURROGATES_STATE = "scrub.surrogate_version"
_LOG = logging.getLogger("slimline.scrub")


class ScrubError(RuntimeError):
    """Scrub could not run (not one call: those are set aside); never quotes content."""


def run_scrub(
    settings: Settings,
    raw: RawStore | None = None,
    work: WorkStore | None = None,
    *,
    parent_run_id: str | None = None,
    report: bool = True,
) -> ScrubResult:
    """Scrub the raw calls stored after the work store's newest one; log the run to MLflow
    (under `parent_run_id`, or nested in the active run) unless `report` is False."""
    own_raw, own_work = raw is None, work is None
    raw = raw if raw is not None else open_raw(settings)
    work = work if work is not None else open_work(settings)
    try:
        return _run(settings, raw, work, report, parent_run_id)
    finally:
        if own_raw:
            raw.close()
        if own_work:
            work.close()


def _run(
    settings: Settings, raw: RawStore, work: WorkStore, report: bool, parent_run_id: str | None
) -> ScrubResult:
    config = settings.scrub
    started = time.perf_counter()
    cursor, last = work.scrub_watermark(), raw.max_seq()
    if cursor >= last:  # nothing new: check the config, record the run, done
        resolve_spacy_model(config.spacy_model)
        result = ScrubResult(run_id=work.start_run("scrub"))
        result.seconds = round(time.perf_counter() - started, 3)
        work.finish_run(result.run_id, result.model_dump())
        return result
    _check_surrogates(work)
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
        result.mlflow_run_id = log_to_mlflow(settings, result, parent_run_id)
    return result


def _check_surrogates(work: WorkStore) -> None:
    """Warn, at every run, while the work store holds calls scrubbed with surrogates of an
    earlier version (they would differ from the new calls' surrogates in the same
    conversation); the state records the version only while all calls share it."""
    made = work.get_state(SURROGATES_STATE)
    if made == SURROGATE_VERSION:
        return
    stored = work.count_scrubbed()
    if stored and made != "mixed":
        work.set_state(SURROGATES_STATE, "mixed")
    if stored:
        _LOG.warning(
            "the work store holds %d calls scrubbed with surrogates of an earlier version; "
            "new calls get version %s (per conversation), so a conversation may mix both: "
            "scrub into a new work store to have one kind",
            stored, SURROGATE_VERSION,
        )  # fmt: skip
    else:
        work.set_state(SURROGATES_STATE, SURROGATE_VERSION)


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
    secret = raw.secret(CONTEXT_SECRET)
    for seq, rec in _calls(raw, after, upto):
        try:
            scrubbed = scrubber.scrub(rec)
        except Unscrubbable as exc:
            aside.append((seq, rec.id, exc.reason))
            kind = reason_kind(exc.reason)
            result.quarantine_reasons[kind] = result.quarantine_reasons.get(kind, 0) + 1
            _LOG.warning("call %s (raw seq %d) set aside: %s", rec.id, seq, exc.reason)
        else:
            stamp = {**scrubbed.metadata, CONTEXT_KEY_FIELD: record_context_key(secret, rec)}
            batch.append((seq, scrubbed.model_copy(update={"metadata": stamp})))
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
    work.finish_run(run_id, result.model_dump(), status=status)


def source_label(source: str) -> str:
    """A short name for a collection source: the file's name (paths may name a person's
    home folder), in the characters MLflow allows in a metric name."""
    name = Path(source).name or source
    return re.sub(r"[^A-Za-z0-9_.\- ]", "_", name)[:120] or "unknown"


def log_to_mlflow(settings: Settings, result: ScrubResult, parent_run_id: str | None = None) -> str:
    """One MLflow run tagged slimline.stage=scrub (under `parent_run_id`, or nested in the
    active run) with the run's counts as metrics. Returns its run id."""
    import mlflow

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
    tags = {"slimline.scrub_run_id": result.run_id}
    with stage_run(settings, "scrub", parent_run_id, tags=tags) as run:
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
