"""Collecting one source into the raw store: incremental, idempotent, nothing lost.

`collect_source(store, source, config)` reads a file, directory or glob. Per file it resumes
where its watermark says, parses each line (format detected per line, see formats.py),
writes records in batches, and moves the watermark in the same transaction as each batch: a
crash (even kill -9) repeats at most one batch, and the content id makes the repeat a no-op.
Every line that cannot become a record goes to the quarantine table with its file, line and
reason.

A `Window` (a backfilled night: the calls of one past day) reads each file from its start,
keeps only the calls whose timestamp falls inside it, and leaves the watermarks alone, so
the nightly runs that come after still read everything they have not seen.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimline.record import CallRecord
from slimline.tasks.collect import files
from slimline.tasks.collect.config import Window
from slimline.tasks.collect.formats import Parsed, RecordBuilder
from slimline.tasks.collect.parse import parse_object
from slimline.tasks.collect.result import SourceCounts

if TYPE_CHECKING:
    from slimline.store import RawStore
    from slimline.tasks.collect.config import CollectConfig

log = logging.getLogger("slimline.collect")

try:
    import orjson

    _fast_loads: Any = orjson.loads
except ImportError:  # pragma: no cover
    _fast_loads = json.loads


def collect_source(
    store: RawStore,
    source: str,
    config: CollectConfig,
    builder: RecordBuilder | None = None,
    window: Window | None = None,
) -> SourceCounts:
    """Collect one source (file, directory or glob); problems reading it land in `error`."""
    builder = builder or RecordBuilder(default_agent=config.default_agent)
    counts = SourceCounts(source=source)
    try:
        paths = files.expand_source(source, config.file_patterns)
    except files.SourceNotFound as exc:
        counts.error = str(exc)
        return counts
    counts.files = len(paths)
    for path in paths:
        try:
            collect_file(store, path, config, builder, counts, window)
        except OSError as exc:
            counts.error = f"{path}: {exc.strerror or exc}"
            log.warning("collect: cannot read %s: %s", path, exc.strerror or exc)
    log.info(
        "collect %s: %d new, %d duplicates, %d quarantined, %d skipped from %d files",
        source, counts.new, counts.duplicates, counts.quarantined, counts.skipped, counts.files,
    )  # fmt: skip
    if window is not None:
        outside = counts.outside_window
        log.info("collect %s: window %s, %d calls outside it", source, window, outside)
    return counts


class _FileRun:
    """One file's pass: batches, quarantine and the watermark that moves with each batch."""

    def __init__(
        self,
        store: RawStore,
        path: Path,
        config: CollectConfig,
        counts: SourceCounts,
        window: Window | None = None,
    ):
        self.store, self.path, self.config, self.counts = store, path, config, counts
        self.window = window
        self.key = f"file:{path}"
        self.batch: list[CallRecord] = []

    def quarantine(self, location: str, reason: str, raw: bytes | str) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
        self.store.quarantine(str(self.path), location, reason, text)
        self.counts.quarantined += 1

    def take(self, parsed: Parsed, raw: bytes) -> None:
        for problem in parsed.problems:
            self.quarantine(problem.location, problem.reason, problem.raw_text or raw)
        self.counts.skipped += parsed.skipped
        records = parsed.records
        if self.window is not None:
            records = [r for r in records if r.timestamp in self.window]
            self.counts.outside_window += len(parsed.records) - len(records)
        self.batch.extend(records)

    def flush(self, mark: dict[str, Any]) -> None:
        """Write the batch and move the watermark to `mark`, in one transaction (a windowed
        run moves no watermark)."""
        watermark = None if self.window is not None else (self.key, mark)
        added = self.store.add_calls(self.batch, watermark=watermark)
        self.counts.new += added.new
        self.counts.duplicates += added.duplicates
        self.batch = []


def _loads(data: bytes) -> tuple[Any, str | None]:
    try:
        return _fast_loads(data), None
    except ValueError:
        pass
    try:  # the standard parser for its message (line/column), and for NaN or huge ints
        return json.loads(data), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    except RecursionError:
        return None, "not JSON that can be read: nested too deeply"


def _parse(
    data: bytes, path: Path, where: str, builder: RecordBuilder
) -> tuple[Parsed | None, str | None]:
    """The records of one line or document, or why there are none. Never raises: whatever
    goes wrong with one line is that line's reason, not the end of the run."""
    try:
        obj, error = _loads(data)
        if error is not None:
            return None, error
        return parse_object(obj, str(path), where, builder), None
    except Exception as exc:
        return None, f"cannot be read: {type(exc).__name__}: {exc}"[:1000]


def _resume(path: Path, size: int, gz: bool, mark: Any) -> tuple[int, int, int] | None:
    """(byte offset, line number, lines to skip) to go on from; None: nothing new."""
    if not (isinstance(mark, dict) and files.same_file(path, size, mark)):
        return 0, 0, 0  # never read, or replaced since: from the start
    if mark.get("document") or gz:  # neither can be entered mid-way
        if size == mark.get("size"):
            return None
        return (0, 0, 0) if mark.get("document") else (0, 0, int(mark["line"]))
    offset, number = int(mark["offset"]), int(mark["line"])
    return None if offset >= size else (offset, number, 0)


def collect_file(
    store: RawStore,
    path: Path,
    config: CollectConfig,
    builder: RecordBuilder,
    counts: SourceCounts,
    window: Window | None = None,
) -> None:
    """Read what is new in one file into the store (see the module docstring)."""
    size = path.stat().st_size
    gz = files.is_gzip(path)
    mark = None if window is not None else store.get_watermark(f"file:{path}")
    start = _resume(path, size, gz, mark)
    if start is None:
        counts.unchanged += 1
        return
    offset, number, skip = start
    run = _FileRun(store, path, config, counts, window)
    whole = not gz and path.suffix == ".json" and offset == 0 and size <= config.max_line_bytes
    if whole and _collect_document(run, builder, size):
        return
    state = {"gzip": gz, **files.identity(path, size), "size": size}
    done = {"offset": offset, "line": number}
    limit, keep = config.max_line_bytes, config.quarantine_text_bytes
    lines = files.read_lines(path, gzip=gz, offset=offset, number=number, limit=limit, keep=keep)
    for item in lines:
        if isinstance(item, files.Break):
            run.quarantine(f"line {item.number}", item.reason, item.data)
            break
        if item.number > skip:
            if item.final and not gz and not _complete(item, limit):
                counts.pending += 1  # perhaps still being written: read it next time
                break
            _take_line(run, item, builder, limit)
        done = {"offset": item.end, "line": item.number}
        if len(run.batch) >= config.batch_size:
            run.flush({**state, **done})
    run.flush({**state, **done})


def _complete(line: files.Line, limit: int) -> bool:
    """Whether a last line without a newline is whole: it parses as JSON."""
    return line.size <= limit and (not line.data.strip() or _loads(line.data)[1] is None)


def _take_line(run: _FileRun, line: files.Line, builder: RecordBuilder, limit: int) -> None:
    where = f"line {line.number}"
    if line.size > limit:
        run.counts.lines += 1
        reason = f"line is {line.size:,} bytes, over the limit of {limit:,} (max_line_bytes)"
        run.quarantine(where, reason, line.data)
        return
    if not line.data.strip():
        return  # a blank line is no call
    run.counts.lines += 1
    parsed, error = _parse(line.data, run.path, where, builder)
    if parsed is None:
        run.quarantine(where, error or "", line.data)
    else:
        run.take(parsed, line.data)


def _collect_document(run: _FileRun, builder: RecordBuilder, size: int) -> bool:
    """A .json file holding one JSON document (an OTLP export, a list of records); False if
    it is JSON lines after all (then it is read line by line)."""
    data = run.path.read_bytes()
    obj, error = _loads(data)
    if error is not None and "Extra data" in error:
        return False
    state = {"gzip": False, "document": True, **files.identity(run.path, size), "size": size}
    done = {"offset": size, "line": data.count(b"\n")}
    run.counts.lines += 1
    keep = run.config.quarantine_text_bytes
    if error is not None:
        run.quarantine("document", error, data[:keep])
    else:
        items = obj if isinstance(obj, list) else [obj]
        for n, item in enumerate(items, 1):
            raw = json.dumps(item, ensure_ascii=False).encode()
            where = f"item {n}" if isinstance(obj, list) else "document"
            parsed, problem = _parse(raw, run.path, where, builder)
            if parsed is None:
                run.quarantine(where, problem or "", raw[:keep])
            else:
                run.take(parsed, raw[:keep])
    run.flush({**state, **done})
    return True
