"""Promote's Prefect task: the gate over an evaluation, the registry's aliases, the
promotion event, and the `promotion` artifact (decisions and reasons, no call content)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.store import open_work
from slimline.tasks.evaluate.result import EvaluateResult
from slimline.tasks.evaluate.stage import load_evaluation
from slimline.tasks.promote.result import PromoteResult
from slimline.tasks.promote.stage import run_promote

ARTIFACT_KEY = "promotion"


@task(name="promote", cache_policy=NO_CACHE)
def promote_task(
    settings: Settings,
    evaluation: EvaluateResult | None = None,
    parent_run_id: str | None = None,
) -> PromoteResult:
    """Gate and register each evaluated cluster (None: the last evaluation's)."""
    if evaluation is None:
        evaluation = load_evaluation(open_work(settings))
    result = run_promote(settings, evaluation, parent_run_id)
    create_markdown_artifact(key=ARTIFACT_KEY, markdown=decisions_markdown(result))
    return result


def decisions_markdown(result: PromoteResult) -> str:
    """Each challenger's decision and the gate's reasons, for people."""
    lines = [f"# Promotion: {len(result.promoted)} of {len(result.promotions)} promoted", ""]
    for p in result.promotions:
        verdict = "PROMOTED" if p.promoted else "not promoted"
        champion = f"v{p.champion}" if p.champion else "none"
        lines.append(f"## {p.model} v{p.version}: {verdict} (champion: {champion})")
        lines += [f"- {reason}" for reason in p.reasons] + [""]
    return "\n".join(lines)
