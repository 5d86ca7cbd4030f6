"""`slimline cluster` (group the scrubbed calls into clusters, ids stable across nights) and
`slimline clusters` (the clusters with their labels, stats and the tasks inside each)."""

from __future__ import annotations

from typing import Any

import typer

from slimline.cli.common import emit, fail, state


def _pct(value: Any) -> str:
    return f"{float(value or 0):6.1%}"


def _tasks(tasks: Any) -> list[str]:
    """A cluster's tasks, one line each (or the one-line summary a result table holds)."""
    if isinstance(tasks, str):
        return [tasks] if tasks else []
    return [f"{t['calls']:>6}  {_pct(t['share'])}  {t['label']}" for t in tasks or []]


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'id':>3}  {'calls':>6}  {'calls%':>6}  {'cost%':>6}  {'tools%':>6}  slug / label"]
    for r in rows:
        lines.append(
            f"{r['cluster_id']:>3}  {r['calls']:>6}  {_pct(r['share_calls'])}  "
            f"{_pct(r['share_cost'])}  {_pct(r['share_tool_calls'])}  {r['slug']}\n"
            f"{'':>36}{r['label']}"
        )
        tasks = _tasks(r.get("tasks"))
        if tasks:
            lines.append(f"{'':>36}tasks (calls, share of the cluster):")
            lines += [f"{'':>38}{t}" for t in tasks]
    return "\n".join(lines)


def cluster(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
) -> None:
    """Group the scrubbed calls into tasks: new calls join known clusters, the rest may form
    new ones (known ids never change)."""
    from slimline.tasks.cluster.embed import EmbeddingModelError
    from slimline.tasks.cluster.stage import ClusterConfigChanged, run_cluster

    st = state(ctx)
    settings = st.settings()
    work = st.work()
    if work.count_scrubbed() == 0:
        fail("no scrubbed calls to cluster: run `slimline collect` and `slimline scrub` first")
    try:
        result = run_cluster(settings, work)
    except (ClusterConfigChanged, EmbeddingModelError) as exc:
        fail(str(exc))
        return
    data = result.model_dump(mode="json")
    human = (
        f"{result.calls} scrubbed calls: {result.examined} examined, {result.assigned} assigned, "
        f"{result.new_clusters} new clusters, {result.unclustered} unclustered "
        f"(model v{result.model_version}, {result.timings.get('total', 0):.1f} s)\n"
        + _table(result.table())
    )
    emit(data, as_json, human=human)


def clusters(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
) -> None:
    """List the clusters: id, slug (the registered model's name), label, stats and the tasks
    inside each (what the teacher did: the tool it called, or a text answer)."""
    from collections import Counter

    from slimline.store.schema import UNCLUSTERED

    work = state(ctx).work()
    rows = work.clusters()
    counts = Counter(work.assignments().values())
    listed = [
        {
            "cluster_id": r["cluster_id"],
            "slug": r["slug"],
            "label": r["label"],
            "keywords": r["keywords"],
            "top_tools": r["top_tools"],
            "model_version": r["model_version"],
            "calls": counts.get(r["cluster_id"], 0),
            "share_calls": r["stats"].get("share_calls", 0.0),
            "share_cost": r["stats"].get("share_cost", 0.0),
            "share_tool_calls": r["stats"].get("share_tool_calls", 0.0),
            "tasks": r["stats"].get("tasks", []),
            "stats": r["stats"],
        }
        for r in rows
    ]
    data = {
        "clusters": listed,
        "unclustered": counts.get(UNCLUSTERED, 0),
        "scrubbed_calls": work.count_scrubbed(),
    }
    if not listed:
        human = "no clusters yet: run `slimline cluster`"
    else:
        human = _table(listed) + f"\nunclustered calls: {data['unclustered']}"
    emit(data, as_json, human=human)


def register(app: typer.Typer) -> None:
    app.command("cluster")(cluster)
    app.command("clusters")(clusters)
