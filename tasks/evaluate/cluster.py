"""Evaluation of one cluster's adapter on its held-out conversations, against the base
model and the current champion; the metrics go into the cluster's train run in MLflow.

`evaluate_cluster` replays the held-out calls (at most `evaluate.max_examples`, drawn with a
fixed seed) through each model with greedy, batched decoding and the prompt training used
(`prompt_messages` under the tokenizer's chat template). The challenger and the champion see
the prompt without the distilled context they learnt; the base model, which learnt none,
sees the cluster's context in its prompt (trimmed to the same window), as it would have to
serve the call (`evaluate.base_prompt`). Metrics are logged as `base.*`, `challenger.*`,
`champion.*`, and the per-call answers as the artifact `evaluation/<role>.json`.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from slimline import adapters
from slimline.config import Settings
from slimline.models import load_model
from slimline.prompt import distilled_context, prompt_messages
from slimline.record import CallRecord
from slimline.tasks.evaluate.result import EvalReport
from slimline.tasks.train.result import ClusterTraining
from slimline.tracking import (
    BASE_MODEL_TAG,
    CHAMPION,
    CHAMPION_VERSION_TAG,
    EVALUATED_TAG,
    PARENT_TAG,
    client,
)

log = logging.getLogger(__name__)


def heldout_sample(records: list[CallRecord], n: int, seed: int) -> list[CallRecord]:
    """At most `n` held-out calls, drawn with `seed`, in conversation order."""
    chosen = sorted(records, key=lambda r: r.id)
    if len(chosen) > n:
        chosen = random.Random(seed).sample(chosen, n)
    return sorted(chosen, key=lambda r: (r.conversation_id, r.timestamp, r.id))


def _champion(settings: Settings, slug: str) -> Any:
    """The registry's champion version of `slug`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_model_version_by_alias(slug, CHAMPION)
    except MlflowException:
        return None


def _score_role(
    settings: Settings,
    role: str,
    model: Any,
    tokenizer: Any,
    records: list[CallRecord],
    context: Any,
) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    from slimline.chat_format import assistant_text, parse_response
    from slimline.tasks.evaluate.generate import generate
    from slimline.tasks.evaluate.metrics import aggregate, score_example
    from slimline.tasks.evaluate.similarity import text_similarities

    cfg = settings.evaluate
    prompts = [prompt_messages(r, context, tokenizer, settings.train.max_seq_len) for r in records]
    gen = generate(
        model, tokenizer, prompts, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size
    )
    parsed = [parse_response(t) for t in gen.texts]
    scores = [score_example(p, r.response, r.tools) for p, r in zip(parsed, records, strict=True)]
    pairs = [(s.predicted_text, s.reference_text) for s in scores if not s.expected_tool]
    sims = text_similarities(pairs, cfg.similarity_model)
    grades = None
    if cfg.judge_url:
        from slimline.tasks.evaluate.judge import JudgeItem, judge

        items = [
            JudgeItem(p[-1]["content"] if p else "", assistant_text(r.response), t)
            for p, r, t in zip(prompts, records, gen.texts, strict=True)
        ]
        graded = judge(
            items, cfg.judge_url, cfg.judge_model, cfg.judge_api_key_env, cfg.judge_timeout_s
        )
        grades = [g for g in graded if g is not None]
    metrics = aggregate(scores, sims, grades)
    metrics["latency_ms"] = gen.latency_ms
    metrics["tokens_per_s"] = gen.tokens_per_s
    rows = [
        {"call_id": r.id, "output": t, **s.as_dict()}
        for r, t, s in zip(records, gen.texts, scores, strict=True)
    ]
    log.info("%s: %s", role, {k: v for k, v in metrics.items() if v is not None})
    return metrics, rows


def _log(settings: Settings, report: EvalReport, rows: dict[str, list[dict[str, Any]]]) -> None:
    from mlflow.entities import Metric, Param

    mlflow = client(settings)
    stamp = int(time.time() * 1000)
    metrics = [
        Metric(f"{role}.{name}", float(value), stamp, 0)
        for role, values in report.metrics.items()
        for name, value in values.items()
        if value is not None
    ]
    params = [
        Param("eval.max_examples", str(settings.evaluate.max_examples)),
        Param("eval.max_new_tokens", str(settings.evaluate.max_new_tokens)),
        Param("eval.base_prompt", settings.evaluate.base_prompt),
    ]
    existing = mlflow.get_run(report.run_id).data.params
    params = [p for p in params if p.key not in existing]
    mlflow.log_batch(report.run_id, metrics=metrics, params=params)
    mlflow.set_tag(report.run_id, EVALUATED_TAG, "true")
    if report.champion_version is not None:
        mlflow.set_tag(report.run_id, CHAMPION_VERSION_TAG, str(report.champion_version))
    for role, role_rows in rows.items():
        mlflow.log_dict(report.run_id, {"examples": role_rows}, f"evaluation/{role}.json")


def evaluate_cluster(
    settings: Settings,
    cluster_row: dict[str, Any],
    training: ClusterTraining,
    eval_records: list[CallRecord],
) -> EvalReport:
    """Held-out metrics of base, challenger (the trained adapter) and the registry's
    champion on `eval_records`, logged to the cluster's train run."""
    slug = str(cluster_row.get("slug") or training.slug)
    run_id = training.run_id
    report = EvalReport(
        cluster_id=int(cluster_row["cluster_id"]),
        slug=slug,
        run_id=run_id,
        adapter_uri=adapters.adapter_uri(run_id) if run_id else "",
        context_hash=training.context_hash or "",
        dataset_digest=training.dataset_digest or "",
    )
    if run_id is None or training.status != "trained":
        report.status = "skipped"
        report.reason = f"training status {training.status!r}, no adapter"
        return report
    records = heldout_sample(eval_records, settings.evaluate.max_examples, settings.evaluate.seed)
    if not records:
        report.status, report.reason = "skipped", "no held-out calls"
        return report
    report.n_examples = len(records)
    stamps = sorted(r.timestamp for r in eval_records)
    report.data_window = (stamps[0].isoformat(), stamps[-1].isoformat())
    adapter_dir = adapters.fetch_adapter(settings, run_id)
    report.base_model = training.base_model or adapters.base_model_of(adapter_dir)
    context = adapters.load_context(adapter_dir) or distilled_context(eval_records)
    report.context_hash = report.context_hash or context.hash
    roles: list[tuple[str, str, Any, Any]] = []  # (role, base model, adapter dir, context)
    champion = _champion(settings, slug)
    if champion is not None and champion.run_id:
        try:
            champ_dir = adapters.fetch_adapter(settings, champion.run_id)
            champ_base = champion.tags.get(BASE_MODEL_TAG) or adapters.base_model_of(champ_dir)
        except adapters.AdapterError as exc:  # the gate then compares with its tagged metrics
            log.warning("%s: champion v%s not evaluated: %s", slug, champion.version, exc)
        else:
            champ_context = adapters.load_context(champ_dir) or context
            roles.append(("champion", champ_base, champ_dir, champ_context))
            report.champion_version = int(champion.version)
    roles.insert(0, ("challenger", report.base_model, adapter_dir, context))
    base_context = None if settings.evaluate.base_prompt == "full" else context
    roles.insert(0, ("base", report.base_model, None, base_context))
    rows: dict[str, list[dict[str, Any]]] = {}
    loaded: dict[str, tuple[Any, Any]] = {}
    for role, base_model, folder, ctx in roles:
        if base_model not in loaded:
            loaded.clear()  # one base model in memory at a time
            loaded[base_model] = load_model(base_model)
        model, tokenizer = loaded[base_model]
        if folder is not None:
            model = adapters.attach(model, folder, role)
            loaded[base_model] = (model, tokenizer)
        report.metrics[role], rows[role] = _score_role(
            settings, role, model, tokenizer, records, ctx
        )
    report.nightly_run_id = training.parent_run_id or client(settings).get_run(
        run_id
    ).data.tags.get(PARENT_TAG)
    _log(settings, report, rows)
    return report
