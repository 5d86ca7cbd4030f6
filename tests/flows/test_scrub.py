"""The `scrub` flow end to end: canary PII planted in collected calls must not reach any
byte under SLIMLINE_HOME outside the raw store (work store, MLflow, Prefect, logs, the
export), nor the Prefect API's database, nor stdout/stderr."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import zlib
from pathlib import Path

import pytest

CANARIES = {
    "name": "Wilhelmina Quarrington",
    "first": "Wilhelmina",
    "last": "Quarrington",
    "email": "wilhelmina.quarrington@canary-mail.com",
    "phone": "(415) 555-0173",
    "card": "4539 1488 0343 6467",
    "ssn": "219-09-9999",
    "key": "sk-proj-CANARYzz9Qe4t7Uw1Rb8Ny3Kp6Ls0Hd2Jf5Gm",
    "street": "4417 Quarrington Crescent",
    "ip": "198.51.100.77",
    "user_id": "wilhelmina_quarrington_7741",
}


def canary_forms() -> set[str]:
    """Each canary as written, JSON-escaped, and (for numbers) as bare digits."""
    forms = set()
    for value in CANARIES.values():
        forms |= {value, json.dumps(value)[1:-1]}
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 9:
            forms.add(digits)
    return forms


def plant(line: dict) -> dict:
    """A tau2 line with the canaries in the user's text, a tool result and the answer."""
    c = CANARIES
    msgs = line["request"]["messages"]
    user = next(m for m in msgs if m["role"] == "user")
    user["content"] += (
        f" My name is {c['name']}, email {c['email']}, call me at {c['phone']}. "
        f"Card {c['card']}, SSN {c['ssn']}, I live at {c['street']}. My key is {c['key']} "
        f"and I log in from {c['ip']}."
    )
    msgs.append(
        {
            "role": "tool",
            "tool_call_id": "call_canary",
            "content": json.dumps(
                {
                    "user_id": c["user_id"],
                    "first_name": c["first"],
                    "last_name": c["last"],
                    "email": c["email"],
                    "phone": c["phone"],
                }
            ),
        }
    )
    line["response"]["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_x",
                "type": "function",
                "function": {
                    "name": "get_user_details",
                    "arguments": json.dumps({"user_id": c["user_id"]}),
                },
            }
        ],
    }
    return line


@pytest.mark.slow
def test_scrub_flow_reports_and_leaks_nothing(prefect_api, settings, mlflow_uri, tau2_path, capfd):
    from prefect.artifacts import Artifact
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL
    from typer.testing import CliRunner

    from slimline.cli import app
    from slimline.flows.scrub import scrub
    from slimline.tasks.collect.ingest import collect_sources

    with gzip.open(tau2_path, "rt") as f:
        lines = [json.loads(next(f)) for _ in range(3)]
    source = settings.path("incoming", "calls.jsonl")
    source.parent.mkdir(parents=True)
    source.write_text("".join(json.dumps(plant(line)) + "\n" for line in lines))
    assert collect_sources(settings, [str(source)]).new == 3
    source.unlink()  # the raw input is not part of what must stay clean

    summary = scrub(home=str(settings.home))
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
    leaks = []
    home = Path(settings.home)
    files = [p for p in home.rglob("*") if p.is_file() and not p.name.startswith("raw.db")]
    assert any(p.name == "work.db" for p in files) and any(p.name == "mlflow.db" for p in files)
    prefect_db = PREFECT_API_DATABASE_CONNECTION_URL.value().split("///", 1)[-1]
    for path in [*files, Path(prefect_db)]:
        data = path.read_bytes()
        leaks += [(str(path), f) for f in forms if f.encode() in data]
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
