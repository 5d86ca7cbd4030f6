"""An analysis worker: `python -m slimline.tasks.scrub.worker`, started by `WorkerPool`.

It builds its own Presidio analyzer (engine.py) from the config it is sent, then answers
each list of strings with their spans and, for a string it could not analyse, why. Messages
are length-prefixed pickles on stdin/stdout between a parent and the child it started. A
separate interpreter (not multiprocessing's fork or spawn) works whatever the parent is: a
script without a main guard, a Prefect flow with threads running, a test. Errors come back
as their type and place, never their message (which might quote the text).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from queue import Empty, Queue
from typing import IO, Any

from slimline.tasks.scrub.engine import describe

_HEADER = struct.Struct(">Q")
_LOG = logging.getLogger("slimline.scrub")


def read_message(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return pickle.loads(stream.read(size))


def write_message(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


class WorkerPool:
    """`size` worker processes that analyse chunks of strings in parallel."""

    def __init__(self, config_json: str, size: int):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "slimline.tasks.scrub.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            for _ in range(size)
        ]
        for proc in self.procs:
            write_message(proc.stdin, config_json)  # type: ignore[arg-type]

    def map(self, chunks: Sequence[list[str]]) -> list[Any]:
        """Per chunk, in order: (spans or None per string, {index: why it failed}), or None
        for a chunk whose worker failed or died (a dead worker takes no more chunks)."""
        todo: Queue[int] = Queue()
        for i in range(len(chunks)):
            todo.put(i)
        results: list[Any] = [None] * len(chunks)

        def serve(proc: subprocess.Popen) -> None:
            while proc.poll() is None:
                try:
                    i = todo.get_nowait()
                except Empty:
                    return
                try:
                    write_message(proc.stdin, chunks[i])  # type: ignore[arg-type]
                    reply = read_message(proc.stdout)  # type: ignore[arg-type]
                    while reply is not None and reply[0] == "ready":
                        reply = read_message(proc.stdout)  # type: ignore[arg-type]
                except (OSError, EOFError, pickle.UnpicklingError):
                    reply = None
                if reply is None:
                    _LOG.warning("an analysis worker exited (code %s)", proc.poll())
                    return
                if reply[0] == "error":
                    _LOG.warning("an analysis worker failed: %s", reply[1])
                else:
                    results[i] = reply[1]

        threads = [threading.Thread(target=serve, args=(p,), daemon=True) for p in self.procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> int:
    channel_in, channel_out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but replies may reach the parent's pipe
    from slimline.tasks.scrub.config import ScrubConfig
    from slimline.tasks.scrub.engine import TextAnalyzer

    config_json = read_message(channel_in)
    if config_json is None:
        return 0
    try:
        analyzer = TextAnalyzer(ScrubConfig.model_validate_json(config_json))
    except Exception as exc:
        write_message(channel_out, ("error", describe(exc)))
        return 1
    write_message(channel_out, ("ready", None))
    while (texts := read_message(channel_in)) is not None:
        try:
            spans = analyzer.analyse(texts)
            write_message(channel_out, ("ok", (spans, analyzer.errors)))
        except Exception as exc:
            write_message(channel_out, ("error", describe(exc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
