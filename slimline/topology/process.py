"""Detached server processes for the local topology: start, find, wait for, stop.

Each server runs in its own session (so it outlives the command that started it and can be
stopped as one process group), writes its output to a log file and is remembered by a pid
file. A pid only counts as ours while /proc says its command line still names what we
started, so a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


class StartError(RuntimeError):
    """A server did not come up; the message says which and where its log is."""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (nor on every interface at that port)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(
    cmd: list[str], log: Path, env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen:
    """Start `cmd` detached in its own session, stdout and stderr appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        out.flush()
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def read_pid(pidfile: Path, marker: str) -> int | None:
    """The pid in `pidfile` when that process is alive and its command line holds `marker`."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid, marker) else None


def alive(pid: int, marker: str = "") -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie has exited
        return False
    return marker in cmdline


def stop_group(pid: int, timeout: float = 20.0, leader_first: bool = False) -> bool:
    """SIGTERM the process group led by `pid` (or only its leader, which then stops its
    children), wait, then SIGKILL what is left. True when the group is gone."""
    try:
        if leader_first:
            os.kill(pid, signal.SIGTERM)
        else:
            os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pid):
            return True
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    time.sleep(0.5)
    return not group_alive(pid)


def group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process is in process group `pgid`."""
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # members that are only zombies (waiting for a parent that is not us) count as gone
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _reap(pid: int) -> None:
    """Collect the exit status of `pid` if this process started it (no zombie left)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(
    ready: Callable[[], bool],
    what: str,
    log: Path,
    timeout: float,
    pid: int | None = None,
    marker: str = "",
) -> float:
    """Poll `ready` until it holds; returns the seconds it took. Raises StartError when the
    process dies or time runs out, naming the log to read."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if ready():
            return time.monotonic() - started
        if pid is not None:
            _reap(pid)
            if not alive(pid, marker):
                raise StartError(f"{what} exited while starting; see its log: {log}")
        time.sleep(0.5)
    raise StartError(f"{what} was not ready after {timeout:.0f} s; see its log: {log}")


def http_ok(url: str) -> bool:
    """True when GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False
