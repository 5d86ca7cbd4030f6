"""A cluster's training plan: its split, its base model (or the candidates of a race), its
dataset under each candidate's tokenizer, and the TrainJob(s) that Ray will run.

- The split is by conversation (`train.eval_fraction`, `train.seed`); the TRAIN side is the
  dataset, the held-out side gives `eval_loss` and is what evaluate scores later.
- The base model is the select stage's choice (tasks/select; `train.base_model` pins it).
  With several candidates (`select.race_top_k` > 1) each trains briefly
  (`train.race_steps`) and the one with the lowest held-out loss per completion character
  (comparable across tokenizers) is trained in full.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from slimline.config import Settings
from slimline.record import CallRecord
from slimline.tasks.select.result import Candidate as SelectedModel
from slimline.tasks.select.result import ClusterSelection
from slimline.tasks.train.result import ClusterTraining
from slimline.tasks.train.train import TrainJob


@dataclass
class Candidate:
    """A base model the cluster may train on, with its dataset and full-length job."""

    model: str  # catalog id (or the source when it is not in the catalog)
    source: str
    job: TrainJob
    dataset_digest: str
    dataset_stats: dict[str, float]


@dataclass
class ClusterPlan:
    entry: ClusterTraining
    candidates: list[Candidate] = field(default_factory=list)  # more than one: a race

    @property
    def races(self) -> bool:
        return len(self.candidates) > 1


def _candidate(
    settings: Settings,
    cid: int,
    slug: str,
    model: SelectedModel,
    train_recs: list[CallRecord],
    eval_recs: list[CallRecord],
) -> Candidate:
    from slimline.models import load_tokenizer
    from slimline.prompt import distilled_context
    from slimline.tasks.train.dataset import build_dataset

    cfg = settings.train
    model_id, source, chat_template = model.id, model.source, model.chat_template
    tokenizer = load_tokenizer(source)
    if chat_template and not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = chat_template
    context = distilled_context(train_recs)
    build = build_dataset(train_recs, context, tokenizer, cfg.max_seq_len)
    held: list[dict[str, Any]] = []
    if cfg.eval_loss_examples and eval_recs:
        step = max(1, len(eval_recs) // cfg.eval_loss_examples)
        sample = eval_recs[::step][: cfg.eval_loss_examples]
        held = build_dataset(sample, context, tokenizer, cfg.max_seq_len).examples
    job = TrainJob(
        cluster_id=cid,
        slug=slug,
        base_model=source,
        examples=build.examples,
        config=cfg.model_dump(mode="json"),
        context=context.to_dict(),
        eval_examples=held,
        chat_template=chat_template,
    )
    stats = {k: float(v) for k, v in build.stats().items()}
    return Candidate(model_id, source, job, build.digest, stats)


def use_candidate(entry: ClusterTraining, cand: Candidate) -> None:
    """Record on the entry the base model, context and dataset it trains with."""
    entry.base_model = cand.source
    entry.context_hash = cand.job.context.get("hash")
    entry.dataset_digest = cand.dataset_digest
    entry.examples = len(cand.job.examples)
    entry.dataset_stats = cand.dataset_stats


def plan_cluster(
    settings: Settings,
    row: dict[str, Any],
    records: list[CallRecord],
    selection: ClusterSelection,
) -> ClusterPlan:
    """The cluster's plan; `plan.entry.status` is `skipped` (with the reason) when it has
    none, `failed` when no base model fits it (`selection.error`)."""
    from slimline.split import split_by_conversation
    from slimline.store.schema import UNCLUSTERED

    cfg = settings.train
    cid = int(row["cluster_id"])
    entry = ClusterTraining(cluster_id=cid, slug=str(row.get("slug") or f"cluster-{cid}"))
    entry.calls = len(records)
    plan = ClusterPlan(entry)
    if cid == UNCLUSTERED:
        entry.status, entry.reason = "skipped", "outliers (UNCLUSTERED) are not a task"
        return plan
    if len(records) < cfg.min_cluster_calls:
        entry.status = "skipped"
        entry.reason = (
            f"{len(records)} calls, fewer than train.min_cluster_calls={cfg.min_cluster_calls}"
        )
        return plan
    train_recs, eval_recs = split_by_conversation(records, cfg.eval_fraction, seed=cfg.seed)
    entry.train_conversation_ids = sorted({r.conversation_id for r in train_recs})
    entry.eval_conversation_ids = sorted({r.conversation_id for r in eval_recs})
    if not train_recs:
        entry.status, entry.reason = "skipped", "no conversation left for training"
        return plan
    if selection.error:
        entry.status, entry.reason = "failed", selection.error[:500]
        return plan
    entry.selection, models = selection.summary(), list(selection.candidates)
    if not eval_recs:  # nothing to judge a race on: the smallest candidate trains
        models = models[:1]
    for model in models:
        cand = _candidate(settings, cid, entry.slug, model, train_recs, eval_recs)
        if cand.job.examples:
            plan.candidates.append(cand)
    if not plan.candidates:
        entry.status = "skipped"
        entry.reason = f"no example fits max_seq_len={cfg.max_seq_len}"
        return plan
    use_candidate(entry, plan.candidates[0])
    return plan


def race_jobs(settings: Settings, plan: ClusterPlan) -> list[TrainJob]:
    """Short copies of each candidate's job (`train.race_steps`, default max_steps / 4)."""
    cfg = settings.train
    steps = cfg.race_steps or max(1, (cfg.max_steps if cfg.max_steps > 0 else 8) // 4)
    out = []
    for cand in plan.candidates:
        config = {**cand.job.config, "max_steps": steps}
        out.append(dataclasses.replace(cand.job, config=config, candidate=cand.model))
    return out


def race_winner(plan: ClusterPlan, outcomes: dict[str, tuple[Any, str | None]]) -> Candidate:
    """The candidate with the lowest held-out loss per completion character; records the
    race on the entry. Raises RuntimeError when no candidate finished."""
    entry = plan.entry
    scored = []
    for cand in plan.candidates:
        result, error = outcomes.get(cand.model, (None, "not run"))
        score = getattr(result, "eval_loss_per_char", None)
        entry.race.append(
            {
                "model": cand.model,
                "source": cand.source,
                "eval_loss_per_char": score,
                "eval_loss": getattr(result, "eval_loss", None),
                "error": error,
            }
        )
        if score is not None:
            scored.append((score, cand))
    if not scored:
        raise RuntimeError(
            "every candidate of the race failed: "
            + "; ".join(f"{r['model']}: {r['error']}" for r in entry.race)
        )
    score, best = min(scored, key=lambda x: x[0])
    entry.selection["model"], entry.selection["source"] = best.model, best.source
    entry.selection["reasons"] = [
        *entry.selection.get("reasons", []),
        f"won the race of {len(plan.candidates)} with {score:.4f} held-out loss per "
        "completion character",
    ]
    use_candidate(entry, best)
    return best
