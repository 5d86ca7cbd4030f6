"""The tasks inside each cluster in the report: calls and share, and what the champion serves
of each.

The tasks and their counts are the cluster stage's (`clusters.stats["tasks"]`,
slimline/tasks/cluster/actions.py). What a champion serves of a task comes from the answers
evaluation logged when that version was the challenger: `evaluation/challenger.json` in its
train run, one row per test call with its confidence, whether it was servable and whether it
agreed with the teacher. At the version's threshold a call is served when it is servable and
at least that confident (slimline/cascade.py's rule); per task: the share of its test calls
served and the agreement of those served. Evaluation's files are read, never written.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from slimline.store import WorkStore
from slimline.tasks.cluster.actions import task_of_record

log = logging.getLogger("slimline.report")

ANSWERS = "evaluation/challenger.json"


def evaluated_answers(client: Any, run_id: str) -> list[dict[str, Any]]:
    """The per-call rows evaluation logged for the version trained in `run_id` ([] if none)."""
    try:
        with tempfile.TemporaryDirectory(prefix="slimline-answers-") as tmp:
            path = client.download_artifacts(run_id, ANSWERS, tmp)
            return list(json.loads(Path(path).read_text()).get("examples", []))
    except Exception as exc:  # no evaluation logged for it (e.g. promoted by hand)
        log.info("report: no per-call answers in run %s (%s)", run_id, exc)
        return []


def served_by_task(
    work: WorkStore,
    answers: list[dict[str, Any]],
    threshold: float | None,
    known: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """{task: {test_calls, served, served_share, served_agreement}} over `answers`; `known`:
    the cluster's task keys (a text answer's topic counts only if the cluster has it)."""
    if threshold is None or not answers:
        return {}
    by_id = {a["call_id"]: a for a in answers if a.get("call_id")}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # test calls, served, agree
    finders: dict[str, Any] = {}
    for record in work.iter_scrubbed(ids=list(by_id)):
        row = by_id[record.id]
        c = counts[task_of_record(record, known or set(), finders)]
        c[0] += 1
        if row.get("servable") and (row.get("confidence") or 0.0) >= threshold:
            c[1] += 1
            c[2] += bool(row.get("agrees"))
    return {
        task: {
            "test_calls": n,
            "served": served,
            "served_share": served / n if n else 0.0,
            "served_agreement": agreed / served if served else None,
        }
        for task, (n, served, agreed) in counts.items()
    }


def task_rows(
    stats: dict[str, Any], served: dict[str, dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """The cluster's tasks (label, calls, share), with what its champion serves of each."""
    rows = []
    for task in stats.get("tasks") or []:
        row = {k: task[k] for k in ("task", "label", "calls", "share")}
        found = (served or {}).get(task["task"])
        row.update(
            {
                "test_calls": found["test_calls"] if found else 0,
                "served_share": found["served_share"] if found else None,
                "served_agreement": found["served_agreement"] if found else None,
            }
        )
        rows.append(row)
    return rows


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def tasks_markdown(clusters: list[dict[str, Any]]) -> str:
    """Per cluster, its tasks: calls, share, and (with a champion) served share and agreement
    on the task's test calls."""
    parts = []
    for c in clusters:
        tasks = c.get("tasks") or []
        if not tasks:
            continue
        champion = c.get("champion") is not None
        lines = [
            f"**{c['slug']}** ({c['calls']} calls"
            + (f", champion v{c['champion']})" if champion else ", no champion yet)"),
            "",
            "| task | calls | share | test calls | served | agreement |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for t in tasks:
            lines.append(
                f"| {t['label']} | {t['calls']} | {t['share']:.0%} | "
                f"{t['test_calls'] if champion else '–'} | {_pct(t['served_share'])} | "
                f"{_pct(t['served_agreement'])} |"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
