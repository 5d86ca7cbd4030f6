"""`slimline collect` and `slimline quarantine` as a user runs them."""

from __future__ import annotations

import json
import sqlite3

import pytest
from collect_data import write_lines
from typer.testing import CliRunner

from slimline.cli import app
from slimline.store import RawStore

runner = CliRunner()


def run(home, *args):
    return runner.invoke(app, ["--home", str(home), *args])


@pytest.mark.slow
def test_collect_stores_the_tau2_calls_once(tmp_path, tau2_path):
    first = run(tmp_path, "collect", "--source", str(tau2_path), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["new"] == 1908
    second = run(tmp_path, "collect", "--source", str(tau2_path))
    assert second.exit_code == 0, second.output
    assert "total: 0 new, 0 already stored, 0 quarantined" in second.stdout
    store = RawStore(f"sqlite:///{tmp_path / 'raw.db'}")
    assert store.count_calls() == 1908 and store.count_quarantined() == 0
    store.close()
    with sqlite3.connect(tmp_path / "raw.db") as conn:
        # 9 groups of identical request+response, made in different simulations, stay apart
        ids, conversations = conn.execute(
            "SELECT count(DISTINCT id), count(DISTINCT conversation_id) FROM raw_calls"
        ).fetchone()
    assert (ids, conversations) == (1908, 140)


def test_quarantine_lists_what_was_set_aside(tmp_path, tau2_sample):
    path = write_lines(tmp_path / "mixed.jsonl", [tau2_sample[0], "oops", '{"x": 1}'])
    result = run(tmp_path / "h", "collect", "--source", str(path))
    assert result.exit_code == 0, result.output
    assert "1 new, 0 already stored, 2 quarantined" in result.stdout
    assert "see `slimline quarantine`" in result.stdout
    shown = run(tmp_path / "h", "quarantine")
    assert f"{path} line 2: not JSON" in shown.stdout
    assert f"{path} line 3: unknown format" in shown.stdout
    data = json.loads(run(tmp_path / "h", "quarantine", "--json").stdout)
    assert data["count"] == 2
    assert [q["raw_text"] for q in data["items"]] == ["oops", '{"x": 1}']


def test_clear_errors_for_missing_sources_and_upstream(tmp_path):
    none = run(tmp_path, "collect")
    assert none.exit_code == 2 and "no sources" in none.output
    missing = run(tmp_path, "collect", "--source", str(tmp_path / "gone.jsonl"))
    assert missing.exit_code == 1 and "no such file, directory or glob match" in missing.stdout
    proxy = run(tmp_path, "proxy")
    assert proxy.exit_code == 2 and "no upstream" in proxy.output
    bad = run(tmp_path, "proxy", "--upstream", "ftp://example.invalid")
    assert bad.exit_code == 2 and "http(s) URL" in bad.output
