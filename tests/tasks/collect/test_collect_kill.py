"""kill -9 in the middle of a collect, then collect again: every call stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from collect_data import with_timestamp, write_lines

REPO = Path(__file__).resolve().parents[3]
SLIMLINE = REPO / ".venv" / "bin" / "slimline"
LINES = 2000


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM raw_calls").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


@pytest.mark.slow
def test_kill_9_mid_collect_then_again_stores_every_call_once(tmp_path, tau2_lines):
    big = write_lines(
        tmp_path / "big.jsonl",
        [with_timestamp(tau2_lines[n % len(tau2_lines)], n) for n in range(LINES)],
    )
    home, db = tmp_path / "home", tmp_path / "home" / "raw.db"
    cmd = [str(SLIMLINE), "--home", str(home), "collect", "--source", str(big), "--json"]
    env = {**os.environ, "SLIMLINE_COLLECT__BATCH_SIZE": "100"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while stored(db) < 300:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the collect did not get going"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = stored(db)
    assert 300 <= before < LINES, "killed too late to prove anything"

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)["sources"][0]
    # it went on from the last batch written: nothing read twice, nothing missed
    assert counts["new"] == LINES - before and counts["duplicates"] == 0
    assert counts["lines"] == LINES - before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM raw_calls").fetchone() == (
            LINES,
            LINES,
        )
        stamps = [
            datetime.fromisoformat(t) for (t,) in conn.execute("SELECT timestamp FROM raw_calls")
        ]
    assert sorted(t.microsecond for t in stamps) == list(range(LINES))  # each line, once
