"""What the champions serve: the product's headline figures, per cluster and in total.

`served_summary` reads the clusters (work store) and the registry (MLflow); under `live`, the
router's figures on real traffic (`WorkStore.routing_summary`). A champion serves
the calls of its cluster it is confident on and sends the rest to the LLM, so it serves
`coverage` of them (the share of its test calls it served at its calibrated threshold): the
share of all calls served is the sum over clusters of share x coverage. Per cluster also its
served agreement and quality against the teacher (held-out metrics), and the estimated cost
saved: the teacher's `cost_usd` of the calls served against `report.slm_price_per_mtok`
times their tokens.
Per cluster also its tasks (per_task.py): calls and share, and with a champion the share
of each task's test calls it serves and their agreement.
`summary_metrics` turns it into MLflow metrics (`served.*`), `summary_markdown` into a
markdown page.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from slimline.config import Settings
from slimline.store import WorkStore
from slimline.tasks.promote import registry
from slimline.tasks.report.per_task import evaluated_answers, served_by_task, task_rows
from slimline.tracking import (
    CHAMPION,
    COVERAGE_TAG,
    METRIC_TAG_PREFIX,
    SERVED_AGREEMENT_TAG,
    THRESHOLD_TAG,
)

QUALITY = ("name_args_accuracy", "name_accuracy", "response_type_accuracy", "text_similarity")


def served_summary(settings: Settings, work: WorkStore) -> dict[str, Any]:
    """Share of calls the champions serve, their quality against the teacher, the estimated
    cost saved. A champion serves its cluster's calls it is confident on: its `coverage` (the
    share of its test calls it served at its threshold) times the cluster's calls."""
    client = registry.client_for(settings.mlflow_tracking_uri)
    members = work.members()
    sizes = Counter({cid: len(ids) for cid, ids in members.items()})
    total_calls = work.count_scrubbed() or sum(sizes.values()) or 1
    price = settings.report.slm_price_per_mtok
    rows: list[dict[str, Any]] = []
    served_calls, teacher_cost, slm_cost, total_cost = 0.0, 0.0, 0.0, 0.0
    for cluster in work.clusters():
        cid, slug = int(cluster["cluster_id"]), cluster["slug"]
        stats = cluster.get("stats") or {}
        calls = int(stats.get("calls") or sizes.get(cid, 0))
        share = float(stats.get("share_calls") or calls / total_calls)
        champion = registry.version_by_alias(client, slug, CHAMPION)
        cost, tokens = 0.0, 0
        for rec in work.iter_scrubbed(ids=members.get(cid, [])):
            cost += rec.cost_usd or 0.0
            tokens += (rec.prompt_tokens or 0) + (rec.completion_tokens or 0)
        total_cost += cost
        row: dict[str, Any] = {
            "cluster_id": cid,
            "slug": slug,
            "label": cluster.get("label", ""),
            "calls": calls,
            "share_calls": share,
            "champion": int(champion.version) if champion is not None else None,
            "coverage": 0.0,
            "served_share": 0.0,
            "teacher_cost_usd": cost,
            "tokens": tokens,
            "tasks": task_rows(stats, None),
        }
        if champion is not None:
            tags = champion.tags
            for name in QUALITY:
                value = tags.get(f"{METRIC_TAG_PREFIX}{name}")
                row[name] = float(value) if value is not None else None
            coverage = float(tags.get(COVERAGE_TAG) or 0.0)
            agreement = tags.get(SERVED_AGREEMENT_TAG)
            row["coverage"] = coverage
            row["served_agreement"] = float(agreement) if agreement else None
            row["threshold"] = float(tags[THRESHOLD_TAG]) if tags.get(THRESHOLD_TAG) else None
            if champion.run_id:
                answers = evaluated_answers(client, champion.run_id)
                row["tasks"] = task_rows(stats, served_by_task(work, answers, row["threshold"]))
            row["served_share"] = share * coverage
            row["served_calls"] = calls * coverage
            row["slm_cost_usd"] = tokens * coverage / 1e6 * price
            row["saved_usd"] = cost * coverage - row["slm_cost_usd"]
            served_calls += row["served_calls"]
            teacher_cost += cost * coverage
            slm_cost += row["slm_cost_usd"]
        rows.append(row)
    return {
        "clusters": rows,
        "served_clusters": sum(r["served_share"] > 0 for r in rows),
        "served_calls": round(served_calls),
        "served_share_calls": sum(r["served_share"] for r in rows),
        "teacher_cost_usd": total_cost,
        "teacher_cost_usd_served": teacher_cost,
        "slm_cost_usd_served": slm_cost,
        "saved_usd": teacher_cost - slm_cost,
        "saved_share_cost": (teacher_cost - slm_cost) / total_cost if total_cost else 0.0,
        "slm_price_per_mtok": price,
        "live": work.routing_summary(),  # what the router (`slimline serve`) really served
    }


def summary_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The summary as `served.*` metrics: the totals, and per served cluster
    `served.cluster.<slug>.<figure>` (share of calls, quality vs teacher, saved)."""
    keys = (
        "served_clusters",
        "served_calls",
        "served_share_calls",
        "teacher_cost_usd",
        "teacher_cost_usd_served",
        "slm_cost_usd_served",
        "saved_usd",
        "saved_share_cost",
    )
    out = {f"served.{k}": float(summary[k]) for k in keys}
    live = summary.get("live") or {}
    if live.get("routed_calls"):
        out["served.live.routed_calls"] = float(live["routed_calls"])
        out["served.live.served_share"] = float(live["live_served_share"])
    for row in summary["clusters"]:
        if row["champion"] is None:
            continue
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", row["slug"])
        for name in ("share_calls", "coverage", "served_share", "served_agreement", "threshold",
                     *QUALITY, "saved_usd"):  # fmt: skip
            if row.get(name) is not None:
                out[f"served.cluster.{slug}.{name}"] = float(row[name])
    return out


def _fmt(value: Any, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def _live_lines(live: dict[str, Any]) -> list[str]:
    """The router's live figures, beside the held-out ones above them."""
    if not live.get("routed_calls"):
        return ["- live traffic: no call routed yet (`slimline serve`)"]
    fallbacks = ", ".join(f"{k} {v}" for k, v in live["fallbacks"].items()) or "none"
    return [
        f"- live traffic through the router: {live['routed_calls']} calls, "
        f"**{live['live_served_share']:.1%}** answered by a champion; "
        f"fallbacks to the LLM: {fallbacks}"
    ]


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as a markdown page."""
    lines = [
        "# What small models serve now",
        "",
        f"- share of calls served by a champion: **{summary['served_share_calls']:.1%}** "
        f"({summary['served_clusters']} clusters, {summary['served_calls']} calls)",
        f"- teacher cost of those calls: ${summary['teacher_cost_usd_served']:.4f}; "
        f"as SLM calls at ${summary['slm_price_per_mtok']}/M tokens: "
        f"${summary['slm_cost_usd_served']:.4f}",
        f"- estimated saved: **${summary['saved_usd']:.4f}** "
        f"({summary['saved_share_cost']:.1%} of the teacher's ${summary['teacher_cost_usd']:.4f})",
        *_live_lines(summary.get("live") or {}),
        "",
        "| cluster | calls | share | champion | serves | served share | agreement | "
        "threshold | name+args (all) | saved $ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["clusters"]:
        champion = r["champion"] is not None
        lines.append(
            f"| {r['slug']} | {r['calls']} | {r['share_calls']:.1%} | "
            f"{'v' + str(r['champion']) if champion else '–'} | "
            f"{format(r['coverage'], '.1%') if champion else '–'} | "
            f"{format(r['served_share'], '.1%') if champion else '–'} | "
            f"{_fmt(r.get('served_agreement'))} | {_fmt(r.get('threshold'), '.3f')} | "
            f"{_fmt(r.get('name_args_accuracy'))} | {_fmt(r.get('saved_usd'), '.4f')} |"
        )
    return "\n".join(lines) + "\n"
