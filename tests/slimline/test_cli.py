"""The CLI contract: `status --json` keys, `config show`, clear errors."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from slimline.cli import app

runner = CliRunner()

STATUS_KEYS = {
    "raw_calls",
    "quarantined",
    "scrubbed_calls",
    "clusters",
    "registered_models",
    "champions",
    "served_share",
}


def test_status_json_has_the_contract_keys(tmp_path):
    result = runner.invoke(app, ["--home", str(tmp_path / "h"), "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data.keys() >= STATUS_KEYS
    assert all(data[k] == 0 for k in STATUS_KEYS)
    assert (tmp_path / "h" / "raw.db").exists() and (tmp_path / "h" / "work.db").exists()


def test_config_show_masks_passwords(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIMLINE_STORE__WORK_URL", "postgresql://u:hunter2@db.internal/w")
    result = runner.invoke(app, ["--home", str(tmp_path), "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert "hunter2" not in result.stdout
    assert shown["store"]["work_url"] == "postgresql://u:***@db.internal/w"


def test_unreachable_store_names_the_store_and_masks_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIMLINE_STORE__RAW_URL", "postgresql+psycopg://u:hunter2@127.0.0.1:1/r")
    result = runner.invoke(app, ["--home", str(tmp_path), "status"])
    assert result.exit_code == 2
    assert "raw store" in result.output
    assert "127.0.0.1:1" in result.output and "hunter2" not in result.output


@pytest.mark.slow
def test_console_script_runs(tmp_path):
    exe = [sys.executable, "-m", "slimline", "--home", str(tmp_path), "status", "--json"]
    out = subprocess.run(exe, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["raw_calls"] == 0
