"""Evaluation of one cluster's adapter on its held-out conversations, against the base
model and the current champion, and the cascade's figures; all of it goes into the
cluster's train run in MLflow.

The held-out conversations are split in two (slimline/split.py): the CALIBRATION calls pick
the challenger's confidence threshold (slimline/cascade.py: the lowest at which the calls it
would serve reach `promote.target_agreement`), the TEST calls measure it: coverage (the
share it serves) and served agreement. The champion, when the registry has one, answers the
same test calls and is measured at its own threshold; the base model, which learnt nothing,
answers at most `evaluate.base_examples` of them. Every model decodes as the router does
(slimline/decoding: greedy, tool calls constrained to the request's tool schemas, each
answer's confidence from the model's own token probabilities) on the prompt training built
(slimline/prompt.py); the adapters see it without the distilled context they learnt.

Logged into the train run: `<role>.<metric>` (the all-calls metrics of metrics.py on the test
calls), `challenger.threshold`, `<role>.coverage`, `<role>.served_agreement`, `<role>.auroc`,
`calibration.*`, the per-call answers with their confidence and how the cascade judged them
(`evaluation/<role>.json`, and `evaluation/calibration.json` for the challenger's answers to
the calibration calls: scrubbed text only), the threshold's reason
(`evaluation/threshold.json`), the coverage-vs-agreement curve (`evaluation/cascade.png`),
and what the teacher did against what the adapter did on the test calls (tool names or
text: `evaluation/confusion.json` and `.png`).
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from slimline import adapters
from slimline.cascade import Scored, auroc, calibrate, servable, serve_at
from slimline.chat_format import ParsedResponse, assistant_text, parse_response, reference_calls
from slimline.config import Settings
from slimline.models import load_model
from slimline.prompt import DistilledContext, distilled_context, prompt_messages
from slimline.record import CallRecord
from slimline.tasks.evaluate import plots
from slimline.tasks.evaluate.metrics import ExampleScore, aggregate, score_example
from slimline.tasks.evaluate.result import EvalReport
from slimline.tasks.train.result import ClusterTraining
from slimline.tracking import (
    BASE_MODEL_TAG,
    CHAMPION,
    CHAMPION_VERSION_TAG,
    EVALUATED_TAG,
    PARENT_TAG,
    THRESHOLD_TAG,
    client,
)

log = logging.getLogger(__name__)


def heldout_sample(records: list[CallRecord], n: int, seed: int) -> list[CallRecord]:
    """At most `n` held-out calls, drawn with `seed`, in conversation order."""
    chosen = sorted(records, key=lambda r: r.id)
    if len(chosen) > n:
        chosen = random.Random(seed).sample(chosen, n)
    return sorted(chosen, key=lambda r: (r.conversation_id, r.timestamp, r.id))


@dataclass
class Answers:
    """One model's answers to some calls, scored against the teacher."""

    records: list[CallRecord]
    texts: list[str]
    parsed: list[ParsedResponse]
    scores: list[ExampleScore]
    confidences: list[float]
    similarity: list[float | None]  # per call whose teacher answered in text
    grades: list[float | None]  # the LLM judge's, when one is set
    new_tokens: list[int]
    seconds: float
    signals: list[dict[str, float | None]]  # every confidence signal of each answer

    def take(self, ids: set[str]) -> Answers:
        """The answers to the calls in `ids` (time shared out by call)."""
        keep = [i for i, r in enumerate(self.records) if r.id in ids]

        def pick(xs: list[Any]) -> list[Any]:
            return [xs[i] for i in keep]

        share = len(keep) / max(len(self.records), 1)
        return Answers(
            pick(self.records), pick(self.texts), pick(self.parsed), pick(self.scores),
            pick(self.confidences), pick(self.similarity), pick(self.grades),
            pick(self.new_tokens), self.seconds * share, pick(self.signals),
        )  # fmt: skip

    def scored(self, text_target: float | None, judged: bool) -> list[Scored]:
        """Each answer as the cascade sees it: confidence, servable, agrees with the teacher."""
        out = []
        for i, (record, parsed, score) in enumerate(
            zip(self.records, self.parsed, self.scores, strict=True)
        ):
            if score.expected_tool:
                agrees = score.type_correct and bool(score.exact)
            else:
                measure = self.grades[i] if judged else self.similarity[i]
                agrees = (
                    score.type_correct and text_target is not None and measure is not None
                    and measure >= text_target
                )  # fmt: skip
            may = servable(parsed, record.tools, text_target, record)
            out.append(Scored(self.confidences[i], may, agrees))
        return out

    def metrics(self) -> dict[str, float | None]:
        """The all-calls metrics (metrics.py), latency and throughput."""
        sims = [s for s, sc in zip(self.similarity, self.scores, strict=True)
                if not sc.expected_tool and s is not None]  # fmt: skip
        grades = [g for g in self.grades if g is not None]
        out = aggregate(self.scores, sims, grades or None)
        out["latency_ms"] = 1000.0 * self.seconds / max(len(self.records), 1)
        out["tokens_per_s"] = sum(self.new_tokens) / self.seconds if self.seconds else 0.0
        return out

    def rows(self, scored: list[Scored]) -> list[dict[str, Any]]:
        """Per call: its id, the answer (scrubbed text), its scores and how the cascade saw
        it (confidence, servable, agrees), for MLflow."""
        return [
            {"call_id": r.id, "output": t, "servable": c.servable, "agrees": c.agrees,
             "confidence": c.confidence, "signals": g, **s.as_dict()}
            for r, t, c, s, g in zip(self.records, self.texts, scored, self.scores, self.signals,
                                     strict=True)
        ]  # fmt: skip


def answer(
    settings: Settings,
    model: Any,
    tokenizer: Any,
    records: list[CallRecord],
    context: DistilledContext | None,
    adapter: str | None = None,
    label: str = "",
) -> Answers:
    """`model`'s answers to `records` (with `adapter` active), decoded as serving decodes.
    `label` names them in the progress lines (one per batch: plain lines, not a redrawn bar,
    so that a log file reads well)."""
    from slimline.decoding import generate
    from slimline.decoding.confidence import SIGNALS
    from slimline.tasks.evaluate.similarity import text_similarities

    cfg = settings.evaluate
    prompts = [prompt_messages(r, context, tokenizer, settings.train.max_seq_len) for r in records]
    gen = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=cfg.max_new_tokens,
        batch_size=cfg.batch_size,
        tools=[r.tools for r in records] if cfg.constrain_tool_calls else None,
        adapter=adapter,
        signal=cfg.confidence_signal,
        progress=(lambda done, total: log.info("%s: %d/%d calls answered", label, done, total))
        if label
        else None,
    )
    parsed = [parse_response(t) for t in gen.texts]
    scores = [score_example(p, r.response, r.tools) for p, r in zip(parsed, records, strict=True)]
    texts = [i for i, s in enumerate(scores) if not s.expected_tool]
    similarity: list[float | None] = [None] * len(records)
    pairs = [(scores[i].predicted_text, scores[i].reference_text or "") for i in texts]
    for i, value in zip(texts, text_similarities(pairs, cfg.similarity_model), strict=True):
        similarity[i] = value
    grades: list[float | None] = [None] * len(records)
    if cfg.judge_url:
        from slimline.tasks.evaluate.judge import JudgeItem, judge

        items = [
            JudgeItem(p[-1]["content"] if p else "", assistant_text(r.response), t)
            for p, r, t in zip(prompts, records, gen.texts, strict=True)
        ]
        grades = judge(
            items, cfg.judge_url, cfg.judge_model, cfg.judge_api_key_env, cfg.judge_timeout_s
        )
    return Answers(
        records, gen.texts, parsed, scores, [a.confidence for a in gen.answers], similarity,
        grades, gen.new_tokens, gen.seconds,
        [{name: _finite(fn(a.token_probs, a.spans)) for name, fn in SIGNALS.items()}
         for a in gen.answers],
    )  # fmt: skip


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _champion(settings: Settings, slug: str) -> Any:
    """The registry's champion version of `slug`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_model_version_by_alias(slug, CHAMPION)
    except MlflowException:
        return None


def _cascade(answers: list[Scored], threshold: float | None) -> dict[str, float | None]:
    served = serve_at(answers, threshold)
    return {
        "calls": float(served.calls),
        "served": float(served.served),
        "coverage": served.coverage,
        "served_agreement": served.agreement,
        "auroc": auroc(answers),
    }


def evaluate_cluster(
    settings: Settings,
    cluster_row: dict[str, Any],
    training: ClusterTraining,
    calibration: list[CallRecord],
    test: list[CallRecord],
) -> EvalReport:
    """The cascade and the all-calls metrics of the trained adapter (challenger), the base
    model and the registry's champion, logged to the cluster's train run."""
    cfg, gate = settings.evaluate, settings.promote
    slug = str(cluster_row.get("slug") or training.slug)
    run_id = training.run_id
    report = EvalReport(
        cluster_id=int(cluster_row["cluster_id"]),
        slug=slug,
        run_id=run_id,
        adapter_uri=adapters.adapter_uri(run_id) if run_id else "",
        context_hash=training.context_hash or "",
        dataset_digest=training.dataset_digest or "",
        confidence_signal=cfg.confidence_signal,
    )
    if run_id is None or training.status != "trained":
        report.status = "skipped"
        report.reason = f"training status {training.status!r}, no adapter"
        return report
    cal = heldout_sample(calibration, cfg.max_calibration, cfg.seed)
    tests = heldout_sample(test, cfg.max_examples, cfg.seed)
    if not tests:
        report.status, report.reason = "skipped", "no test calls"
        return report
    report.n_examples, report.n_calibration = len(tests), len(cal)
    held = calibration + test
    stamps = sorted(r.timestamp for r in held)
    report.data_window = (stamps[0].isoformat(), stamps[-1].isoformat())
    adapter_dir = adapters.fetch_adapter(settings, run_id)
    report.base_model = training.base_model or adapters.base_model_of(adapter_dir)
    context = adapters.load_context(adapter_dir) or distilled_context(held)
    judged = bool(cfg.judge_url)
    test_ids = {r.id for r in tests}

    model, tokenizer = load_model(report.base_model)
    answers: dict[str, Answers] = {}
    if cfg.base_examples > 0:
        base_context = None if cfg.base_prompt == "full" else context
        answers["base"] = answer(settings, model, tokenizer, tests[: cfg.base_examples],
                                 base_context, label=f"{slug} base")  # fmt: skip
    model = adapters.attach(model, adapter_dir, "challenger")
    both = answer(settings, model, tokenizer, cal + tests, context, adapter="challenger",
                  label=f"{slug} challenger (calibration + test)")  # fmt: skip
    answers["challenger"] = both.take(test_ids)
    answers["calibration"] = both.take({r.id for r in cal})
    calibrated = calibrate(
        answers["calibration"].scored(gate.text_target, judged),
        gate.target_agreement,
        gate.min_calibration_served,
        gate.threshold_rule,
    )
    report.threshold = calibrated.value
    report.calibration = {
        "calls": len(cal),
        "served": calibrated.served,
        "agreement": calibrated.agreement,
        "reason": calibrated.reason,
        "rule": gate.threshold_rule,
        "target": gate.target_agreement,
    }
    test_scored = answers["challenger"].scored(gate.text_target, judged)
    report.cascade["challenger"] = _cascade(test_scored, report.threshold)

    champion = _champion(settings, slug)
    if champion is not None and champion.run_id:
        try:
            champ_dir = adapters.fetch_adapter(settings, champion.run_id)
            champ_base = champion.tags.get(BASE_MODEL_TAG) or adapters.base_model_of(champ_dir)
        except adapters.AdapterError as exc:  # the gate then compares with its tagged figures
            log.warning("%s: champion v%s not evaluated: %s", slug, champion.version, exc)
        else:
            if champ_base != report.base_model:
                del model
                model, tokenizer = load_model(champ_base)
            model = adapters.attach(model, champ_dir, "champion")
            champ_context = adapters.load_context(champ_dir) or context
            answers["champion"] = answer(settings, model, tokenizer, tests, champ_context,
                                         adapter="champion", label=f"{slug} champion")  # fmt: skip
            tagged = champion.tags.get(THRESHOLD_TAG)
            report.cascade["champion"] = _cascade(
                answers["champion"].scored(gate.text_target, judged),
                float(tagged) if tagged else None,
            )
            report.champion_version = int(champion.version)
    for role, role_answers in answers.items():
        if role != "calibration":
            report.metrics[role] = role_answers.metrics()
    report.nightly_run_id = training.parent_run_id or client(settings).get_run(
        run_id
    ).data.tags.get(PARENT_TAG)
    _log(settings, report, answers, test_scored)
    log.info("%s", report.summary_line())
    return report


def _log(
    settings: Settings, report: EvalReport, answers: dict[str, Answers], scored: list[Scored]
) -> None:
    from mlflow.entities import Metric, Param

    mlflow = client(settings)
    stamp = int(time.time() * 1000)
    values = {
        f"{role}.{name}": value
        for role, metrics in report.metrics.items()
        for name, value in metrics.items()
    }
    values |= {
        f"{role}.{name}": value
        for role, cascade in report.cascade.items()
        for name, value in cascade.items()
    }
    values["challenger.threshold"] = report.threshold
    values |= {
        f"calibration.{k}": report.calibration.get(k) for k in ("calls", "served", "agreement")
    }
    metrics = [Metric(k, float(v), stamp, 0) for k, v in values.items() if v is not None]
    cfg = settings.evaluate
    params = [
        Param("eval.max_examples", str(cfg.max_examples)),
        Param("eval.max_calibration", str(cfg.max_calibration)),
        Param("eval.max_new_tokens", str(cfg.max_new_tokens)),
        Param("eval.base_prompt", cfg.base_prompt),
        Param("eval.confidence_signal", cfg.confidence_signal),
        Param("eval.target_agreement", str(settings.promote.target_agreement)),
    ]
    existing = mlflow.get_run(report.run_id).data.params
    params = [p for p in params if p.key not in existing]
    mlflow.log_batch(report.run_id, metrics=metrics, params=params)
    mlflow.set_tag(report.run_id, EVALUATED_TAG, "true")
    if report.champion_version is not None:
        mlflow.set_tag(report.run_id, CHAMPION_VERSION_TAG, str(report.champion_version))
    gate, judged = settings.promote, bool(cfg.judge_url)
    for role, role_answers in answers.items():  # calibration: the challenger's on those calls
        rows = role_answers.rows(role_answers.scored(gate.text_target, judged))
        mlflow.log_dict(report.run_id, {"examples": rows}, f"evaluation/{role}.json")
    mlflow.log_dict(report.run_id, report.calibration, "evaluation/threshold.json")
    figure = plots.cascade_figure(scored, report.threshold, settings.promote.target_agreement,
                                  report.slug)  # fmt: skip
    mlflow.log_figure(report.run_id, figure, "evaluation/cascade.png")
    plots.close(figure)
    test = answers["challenger"]
    rows = plots.confusion(
        [plots.action(reference_calls(r.response)) for r in test.records],
        [plots.action(p.tool_calls, p.invalid_calls) for p in test.parsed],
    )
    mlflow.log_dict(report.run_id, {"rows": rows}, "evaluation/confusion.json")
    figure = plots.confusion_figure(rows, report.slug)
    mlflow.log_figure(report.run_id, figure, "evaluation/confusion.png")
    plots.close(figure)
