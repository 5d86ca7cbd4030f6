"""The train stage over the clusters: select a model, build the dataset, train on Ray, log.

`train_clusters(settings, cluster_ids=None, parent_run_id=None)` is what the nightly flow,
the `train` flow and `slimline train` call. For each trainable cluster (at least
`train.min_cluster_calls` calls, not UNCLUSTERED) it
1. splits the cluster's calls by conversation (`train.eval_fraction`, `train.seed`),
2. selects a base model (`select_model`; `train.base_model` pins one instead),
3. distils the constant context and builds the SFT examples on the TRAIN side,
4. trains one adapter per cluster as a Ray job (jobs.py), all clusters at once,
5. logs a run per cluster in MLflow nested under `parent_run_id` (tracking.py), or under a
   run of its own when none is given,
and returns a `TrainResult`: per cluster its status, run, adapter URI, base model, distilled
context hash, dataset digest, the conversation ids of both sides (evaluate scores exactly the
held-out side), losses and time.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slimline.config import Settings
from slimline.record import CallRecord

log = logging.getLogger(__name__)


@dataclass
class ClusterTraining:
    """One cluster's outcome: `status` is trained, skipped or failed (`reason` says why)."""

    cluster_id: int
    slug: str
    status: str = "pending"
    reason: str = ""
    run_id: str | None = None
    parent_run_id: str | None = None
    base_model: str | None = None
    adapter_uri: str | None = None
    context_hash: str | None = None
    dataset_digest: str | None = None
    train_conversation_ids: list[str] = field(default_factory=list)
    eval_conversation_ids: list[str] = field(default_factory=list)
    calls: int = 0
    examples: int = 0
    first_loss: float | None = None
    final_loss: float | None = None
    eval_loss: float | None = None
    seconds: float = 0.0
    selection: dict[str, Any] = field(default_factory=dict)
    dataset_stats: dict[str, float] = field(default_factory=dict)
    device: str | None = None


@dataclass
class TrainResult:
    """What the train stage did, cluster by cluster."""

    clusters: list[ClusterTraining] = field(default_factory=list)
    parent_run_id: str | None = None
    seconds: float = 0.0
    placement: str = ""

    def by_status(self, status: str) -> list[ClusterTraining]:
        return [c for c in self.clusters if c.status == status]

    @property
    def trained(self) -> list[ClusterTraining]:
        return self.by_status("trained")

    def counts(self) -> dict[str, int]:
        return {s: len(self.by_status(s)) for s in ("trained", "skipped", "failed")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calls_by_cluster(work: Any) -> dict[int, list[CallRecord]]:
    """{cluster_id: its scrubbed calls} from the work store's assignments."""
    members: dict[int, list[str]] = {}
    for call_id, cluster_id in work.assignments().items():
        members.setdefault(int(cluster_id), []).append(call_id)
    out: dict[int, list[CallRecord]] = {}
    for cid, ids in members.items():
        out[cid] = sorted(work.iter_scrubbed(ids=ids), key=lambda r: (r.timestamp, r.id))
    return out


def _selection(settings: Settings, stats: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """({model, source, reasons, ...}, chat template for a tokenizer without one) of the base
    model for a cluster: `select_model`'s choice, or `train.base_model` when pinned."""
    from slimline.tasks.train.select import SelectionError, entry_for_source, select_model

    pinned = settings.train.base_model
    try:
        chosen = select_model(stats, settings.train.max_seq_len, settings)
    except SelectionError as exc:
        if not pinned:
            raise
        chosen, info = None, {"model": None, "source": None, "reasons": [str(exc)]}
    if chosen is not None:
        info = chosen.to_dict()
    entry = chosen.entry if chosen is not None else None
    if pinned:
        pinned_entry = entry_for_source(pinned, settings)
        info["selected"] = info.get("model")
        info["model"] = pinned_entry.id if pinned_entry else pinned
        info["source"] = pinned
        info["reasons"] = [*info["reasons"], f"pinned by train.base_model={pinned}"]
        entry = pinned_entry
    return info, (entry.chat_template if entry is not None else None)


def prepare(
    settings: Settings, row: dict[str, Any], records: list[CallRecord]
) -> tuple[ClusterTraining, Any]:
    """The cluster's entry and, when it is trainable, its TrainJob (else None)."""
    from slimline.models import load_tokenizer
    from slimline.store.schema import UNCLUSTERED
    from slimline.tasks.train.dataset import build_dataset, distilled_context, split_by_conversation
    from slimline.tasks.train.train import TrainJob

    cfg = settings.train
    cid = int(row["cluster_id"])
    entry = ClusterTraining(cluster_id=cid, slug=str(row.get("slug") or f"cluster-{cid}"))
    entry.calls = len(records)
    if cid == UNCLUSTERED:
        entry.status, entry.reason = "skipped", "outliers (UNCLUSTERED) are not a task"
        return entry, None
    if len(records) < cfg.min_cluster_calls:
        entry.status = "skipped"
        entry.reason = (
            f"{len(records)} calls, fewer than train.min_cluster_calls={cfg.min_cluster_calls}"
        )
        return entry, None
    train_recs, eval_recs = split_by_conversation(records, cfg.eval_fraction, seed=cfg.seed)
    entry.train_conversation_ids = sorted({r.conversation_id for r in train_recs})
    entry.eval_conversation_ids = sorted({r.conversation_id for r in eval_recs})
    if not train_recs:
        entry.status, entry.reason = "skipped", "no conversation left for training"
        return entry, None
    stats = {**(row.get("stats") or {}), "calls": len(records), "cluster_id": cid}
    if row.get("label"):
        stats["label"] = row["label"]
    entry.selection, chat_template = _selection(settings, stats)
    entry.base_model = entry.selection["source"]
    tokenizer = load_tokenizer(entry.base_model)
    if chat_template and not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = chat_template
    context = distilled_context(train_recs)
    build = build_dataset(train_recs, context, tokenizer, cfg.max_seq_len)
    entry.context_hash, entry.dataset_digest = context.hash, build.digest
    entry.examples = len(build.examples)
    entry.dataset_stats = {k: float(v) for k, v in build.stats().items()}
    if not build.examples:
        entry.status = "skipped"
        entry.reason = f"no example fits max_seq_len={cfg.max_seq_len} ({build.dropped} dropped)"
        return entry, None
    held = []
    if cfg.eval_loss_examples and eval_recs:
        step = max(1, len(eval_recs) // cfg.eval_loss_examples)
        sample = eval_recs[::step][: cfg.eval_loss_examples]
        held = build_dataset(sample, context, tokenizer, cfg.max_seq_len).examples
    job = TrainJob(
        cluster_id=cid,
        slug=entry.slug,
        base_model=entry.base_model,
        examples=build.examples,
        config=cfg.model_dump(mode="json"),
        context=context.to_dict(),
        eval_examples=held,
        chat_template=chat_template,
    )
    return entry, job


def _finish(entry: ClusterTraining, result: Any, error: str | None) -> None:
    if result is None:
        entry.status, entry.reason = "failed", error or "unknown error"
        return
    entry.status = "trained"
    entry.first_loss, entry.final_loss = result.first_loss, result.final_loss
    entry.eval_loss = result.eval_loss
    entry.seconds = round(result.job_seconds, 2)
    entry.device = f"{result.device} x{result.workers} ({result.precision})"


def train_clusters(
    settings: Settings,
    cluster_ids: list[int] | None = None,
    parent_run_id: str | None = None,
    work: Any = None,
) -> TrainResult:
    """Train an adapter per trainable cluster (all clusters when `cluster_ids` is None)."""
    from slimline.runtime import mlflow_experiment, open_stores
    from slimline.tasks.train import jobs, tracking
    from slimline.tasks.train.train import unpack_folder

    started = time.perf_counter()
    if work is None:
        work = open_stores(settings)[1]
    rows = {int(r["cluster_id"]): r for r in work.clusters()}
    members = calls_by_cluster(work)
    wanted = sorted(rows) if cluster_ids is None else [int(c) for c in cluster_ids]
    result = TrainResult()
    plans: dict[int, tuple[ClusterTraining, Any]] = {}
    for cid in wanted:
        row = rows.get(cid, {"cluster_id": cid, "slug": f"cluster-{cid}"})
        if cid not in rows and cid not in members:
            entry = ClusterTraining(cid, row["slug"], "skipped", "no such cluster")
            result.clusters.append(entry)
            continue
        try:
            entry, job = prepare(settings, row, members.get(cid, []))
        except Exception as exc:  # one cluster's bad data must not stop the others
            log.exception("cluster %s: preparing its training failed", cid)
            entry, job = ClusterTraining(cid, str(row.get("slug"))), None
            entry.status, entry.reason = "failed", f"{type(exc).__name__}: {exc}"[:500]
        result.clusters.append(entry)
        if job is not None:
            plans[cid] = (entry, job)
    experiment_id = mlflow_experiment(settings)
    own_parent = parent_run_id is None
    if own_parent:
        parent_run_id = tracking.start_parent_run(settings, experiment_id, len(wanted))
    result.parent_run_id = parent_run_id
    for entry in result.clusters:
        entry.parent_run_id = parent_run_id

    def on_done(job: Any, outcome: Any, error: str | None) -> None:
        entry = plans[job.cluster_id][0]
        _finish(entry, outcome, error)
        scratch = Path(tempfile.mkdtemp(prefix="slimline-log-"))
        try:
            folder = unpack_folder(outcome.files, scratch) if outcome is not None else None
            entry.run_id = tracking.log_cluster_run(
                settings,
                experiment_id,
                parent_run_id,
                entry,
                job.config,
                job.examples,
                outcome,
                folder,
            )
            if outcome is not None:
                entry.adapter_uri = f"runs:/{entry.run_id}/{tracking.ADAPTER_ARTIFACT}"
        except Exception as exc:  # a trained adapter that did not reach MLflow is a failure
            log.exception("cluster %s: logging to MLflow failed", job.cluster_id)
            entry.status, entry.reason = "failed", f"MLflow logging failed: {exc}"[:500]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    if plans:
        with jobs.ray_session(settings):
            todo = [job for _, job in plans.values()]
            result.placement = jobs.placement(settings, len(todo)).describe()
            jobs.run_jobs(todo, settings, on_done=on_done)
    result.seconds = round(time.perf_counter() - started, 2)
    if own_parent:
        tracking.finish_parent_run(settings, parent_run_id, result.counts(), result.seconds)
    return result
