"""The select stage (S4): per cluster, the smallest catalog model that fits its constraints
(catalog.py), or the model `train.base_model` pins; with `select.race_top_k` > 1, the
candidates that the train stage races.

The context a cluster needs is the training window (`train.max_seq_len`): compaction trims
every example to it.
"""

from __future__ import annotations

from typing import Any

from slimline.config import Settings
from slimline.store import WorkStore, open_work
from slimline.tasks.select.catalog import SelectionError, entry_for_source, select_model
from slimline.tasks.select.result import Candidate, ClusterSelection, SelectResult


def select_for_cluster(settings: Settings, row: dict[str, Any], calls: int) -> ClusterSelection:
    """The choice for one cluster (`row`: its row of the work store's clusters table)."""
    cid = int(row["cluster_id"])
    out = ClusterSelection(cluster_id=cid, slug=str(row.get("slug") or f"cluster-{cid}"))
    stats = {**(row.get("stats") or {}), "calls": calls, "cluster_id": cid}
    if row.get("label"):
        stats["label"] = row["label"]
    pinned = settings.train.base_model
    try:
        chosen = select_model(stats, settings.train.max_seq_len, settings)
    except SelectionError as exc:
        if not pinned:
            out.error = str(exc)
            return out
        out.reasons = [str(exc)]
    else:
        out.candidates = [Candidate(id=c.id, source=c.source, chat_template=c.chat_template)
                          for c in chosen.candidates]  # fmt: skip
        out.reasons, out.rejected = list(chosen.reasons), dict(chosen.rejected)
    if pinned:
        entry = entry_for_source(pinned, settings)
        selected = out.model
        out.candidates = [
            Candidate(
                id=entry.id if entry else pinned,
                source=pinned,
                chat_template=entry.chat_template if entry else None,
            )
        ]
        out.reasons.append(
            f"pinned by train.base_model={pinned}"
            + (f" (the catalog would choose {selected})" if selected else "")
        )
    return out


def run_select(
    settings: Settings,
    cluster_ids: list[int] | None = None,
    work: WorkStore | None = None,
    parent_run_id: str | None = None,
) -> SelectResult:
    """The choice for every cluster (or `cluster_ids`). Select logs no MLflow run of its own:
    the choice is logged with each cluster's train run, so `parent_run_id` is unused."""
    work = work if work is not None else open_work(settings)
    sizes = {cid: len(ids) for cid, ids in work.members().items()}
    rows = [r for r in work.clusters() if cluster_ids is None or r["cluster_id"] in cluster_ids]
    return SelectResult(
        clusters=[select_for_cluster(settings, r, sizes.get(r["cluster_id"], 0)) for r in rows]
    )
