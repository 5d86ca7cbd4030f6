"""The `scrub` flow end to end: canary PII planted in collected calls must not reach any
byte under SLIMLINE_HOME outside the raw store (work store, MLflow, Prefect, logs, the
export), nor the Prefect API's database, nor stdout/stderr."""

from __future__ import annotations

import gzip
import json
import sqlite3
import zlib
from pathlib import Path

import pytest
from canaries import CANARIES, canary_forms, leaks_under, plant


@pytest.mark.slow
def test_scrub_flow_reports_and_leaks_nothing(prefect_api, settings, mlflow_uri, tau2_path, capfd):
    from prefect.artifacts import Artifact
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL
    from typer.testing import CliRunner

    from slimline.cli import app
    from slimline.flows.scrub import scrub
    from slimline.tasks.collect.stage import run_collect

    with gzip.open(tau2_path, "rt") as f:
        lines = [json.loads(next(f)) for _ in range(3)]
    source = settings.path("incoming", "calls.jsonl")
    source.parent.mkdir(parents=True)
    source.write_text("".join(json.dumps(plant(line)) + "\n" for line in lines))
    assert run_collect(settings, [str(source)]).new == 3
    source.unlink()  # the raw input is not part of what must stay clean

    summary = scrub(home=str(settings.home)).model_dump()
    assert summary["scrubbed"] == 3
    assert summary["entities"]["EMAIL_ADDRESS"] >= 2 and summary["entities"]["API_KEY"] >= 1
    table = Artifact.get("scrub-report").data
    rows = json.loads(table) if isinstance(table, str) else table
    assert {"group": "run", "name": "scrubbed calls", "count": 3} in rows

    out = settings.path("export", "scrubbed.jsonl")
    result = CliRunner().invoke(
        app, ["--home", str(settings.home), "export", "scrubbed", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    exported = out.read_text()
    assert "@" in exported and "sk-proj-" in exported  # surrogates of the same kinds

    forms = canary_forms()
    home = Path(settings.home)
    assert (home / "work.db").is_file() and (home / "mlflow.db").is_file()
    prefect_db = PREFECT_API_DATABASE_CONNECTION_URL.value().split("///", 1)[-1]
    leaks = leaks_under(home, [Path(prefect_db)], forms)
    with sqlite3.connect(home / "work.db") as conn:  # message blobs are zlib-compressed
        for (blob,) in conn.execute("SELECT data FROM work_blobs"):
            text = zlib.decompress(blob).decode()
            leaks += [("work_blobs", f) for f in forms if f in text]
    captured = capfd.readouterr()
    leaks += [
        ("stdout/stderr", f) for f in forms if f in captured.out + captured.err + result.output
    ]
    assert leaks == []
    # the search works: the raw store holds every canary (in its compressed blobs)
    with sqlite3.connect(home / "raw.db") as conn:
        raw = "\n".join(
            zlib.decompress(b).decode() for (b,) in conn.execute("SELECT data FROM raw_blobs")
        )
    assert all(json.dumps(v)[1:-1] in raw for v in CANARIES.values())
