"""Reading source files: which files a source names, where the last run stopped, and lines.

A source is a file, a directory (searched recursively for `file_patterns`) or a glob.
Each file has a watermark: its identity (a hash of its first bytes, which does not change
while a log only grows) and how far it was read (a byte offset for plain files; for gzip,
lines read and the decompressed offset, since a gzip stream cannot be entered mid-way).
A file whose identity changed (rotated, rewritten) is read from the start again; content
ids make re-reading harmless.

Gzip is decompressed here chunk by chunk, so a truncated or corrupt stream keeps every line
before the break, and the break itself is reported (never raised).
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

HEAD_BYTES = 65_536  # how much of a file's beginning identifies it
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


class SourceNotFound(FileNotFoundError):
    """A source that names no file, directory or glob match."""


@dataclass
class Line:
    number: int  # 1-based, in the (decompressed) file
    data: bytes  # without the newline; a prefix only when `size` is over the limit
    end: int  # offset just after this line (file bytes, or decompressed bytes for gzip)
    size: int  # the line's full length in bytes
    final: bool = False  # the last line, without a newline: may still be being written


@dataclass
class Break:
    """Where a gzip stream ends early or is corrupt; `data` is the partial line before it."""

    number: int
    reason: str
    data: bytes


def expand_source(source: str, patterns: Iterable[str]) -> list[Path]:
    """The files a source names, sorted; SourceNotFound if a plain path does not exist."""
    patterns = list(patterns)
    expanded = os.path.expanduser(source)
    if glob.has_magic(expanded):
        found: set[Path] = set()
        for match in glob.glob(expanded, recursive=True):
            path = Path(match)
            found.update(
                _walk(path, patterns) if path.is_dir() else [path] if path.is_file() else []
            )
        return sorted(p.resolve() for p in found)
    path = Path(expanded)
    if path.is_dir():
        return sorted(p.resolve() for p in _walk(path, patterns))
    if path.is_file():
        return [path.resolve()]
    raise SourceNotFound(f"source {source}: no such file, directory or glob match")


def _walk(folder: Path, patterns: list[str]) -> list[Path]:
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    ]


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def head_hash(path: Path, length: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(length)).hexdigest()


def identity(path: Path, size: int) -> dict[str, Any]:
    """What says 'this is still the same file': the hash of its first bytes."""
    length = min(size, HEAD_BYTES)
    return {"head_len": length, "head_sha": head_hash(path, length)}


def same_file(path: Path, size: int, mark: dict[str, Any]) -> bool:
    """True if `path` is the file `mark` (a watermark) was taken of, possibly grown since."""
    try:
        if size < int(mark.get("size", 0)):
            return False  # shorter than when it was read: truncated or replaced
        return head_hash(path, int(mark["head_len"])) == mark["head_sha"]
    except (KeyError, TypeError, ValueError):
        return False


def split_lines(
    chunks: Iterable[bytes], *, offset: int, number: int, limit: int, keep: int
) -> Iterator[Line]:
    """Lines of a byte stream starting at `offset` (after line `number`). A line over `limit`
    bytes is yielded with only its first `keep` bytes and its full `size`."""
    buf = bytearray()
    long_prefix: bytes | None = None  # set while skipping through an over-long line
    long_size = 0
    for chunk in chunks:
        buf += chunk
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            number += 1
            if long_prefix is not None:
                size = long_size + nl - start
                offset += size + 1
                yield Line(number, long_prefix, offset, size)
                long_prefix = None
            else:
                size = nl - start
                offset += size + 1
                end = nl if size <= limit else start + keep
                yield Line(number, bytes(buf[start:end]), offset, size)
            start = nl + 1
        del buf[:start]
        if len(buf) > limit:  # an over-long line: keep its beginning, count the rest
            if long_prefix is None:
                long_prefix, long_size = bytes(buf[:keep]), 0
            long_size += len(buf)
            buf.clear()
    if long_prefix is not None or buf:
        number += 1
        size = long_size + len(buf) if long_prefix is not None else len(buf)
        data = long_prefix if long_prefix is not None else bytes(buf)
        yield Line(number, data, offset + size, size, final=True)


def plain_chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


class GzipBreak(Exception):
    """The gzip stream is truncated or corrupt; the message says how."""


def gzip_chunks(f: BinaryIO) -> Iterator[bytes]:
    """Decompressed bytes of a (possibly multi-member) gzip file; GzipBreak at a break."""
    d = zlib.decompressobj(31)
    fed = False  # has the current member received any input?
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            if fed and not d.eof:
                raise GzipBreak("truncated gzip: the compressed stream ends before its end marker")
            return
        pending = chunk
        while pending:
            fed = True
            try:
                out = d.decompress(pending)
            except zlib.error as exc:
                raise GzipBreak(f"corrupt gzip data: {exc}") from None
            if out:
                yield out
            if d.eof:
                pending = d.unused_data
                d = zlib.decompressobj(31)
                fed = False
                if pending.strip(b"\x00") == b"":
                    pending = b""  # zero padding after the last member
            else:
                pending = b""


def read_lines(
    path: Path, *, gzip: bool, offset: int, number: int, limit: int, keep: int
) -> Iterator[Line | Break]:
    """Lines of `path` from `offset` (plain) or from the start (gzip: the caller skips the
    first `number` lines itself), then a Break if a gzip stream ends early."""
    with open(path, "rb") as f:
        if not gzip:
            f.seek(offset)
            yield from split_lines(
                plain_chunks(f), offset=offset, number=number, limit=limit, keep=keep
            )
            return
        stream = _GzipStream(f)
        number = 0
        for line in split_lines(stream, offset=0, number=0, limit=limit, keep=keep):
            number = line.number
            if line.final:
                if stream.error:  # the partial line the break cut off
                    yield Break(line.number, stream.error, line.data)
                    return
                line.final = False  # a complete gzip stream: its last line is complete
            yield line
        if stream.error:
            yield Break(number + 1, stream.error, b"")


class _GzipStream:
    """Decompressed chunks that end at a break instead of raising; `error` says why."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.error: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from gzip_chunks(self.f)
        except GzipBreak as exc:
            self.error = str(exc)
