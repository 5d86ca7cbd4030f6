"""The `nightly` flow: the whole conversion loop once, on what is new.

    open-night -> collect -> scrub -> cluster -> plan-night
      -> select -> train (Ray) -> evaluate -> promote   (when a cluster changed)
      -> report -> close-night

Wiring only: each stage is its package's one Prefect task (tasks/<stage>/tasks.py), the same
the single-stage flows run, so the night publishes the same artifacts; every stage's MLflow
run nests under the night's run. A night with no new calls and no cluster to retrain skips
training, evaluation and promotion; a re-run after a crash resumes (tasks/nightly/stage.py).
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger

from slimline.runtime import flow_settings
from slimline.tasks.cluster.tasks import cluster_task
from slimline.tasks.collect.config import Window
from slimline.tasks.collect.tasks import collect_in_flow
from slimline.tasks.evaluate.tasks import evaluate_task
from slimline.tasks.nightly.result import NightlyResult
from slimline.tasks.nightly.stage import night_stages
from slimline.tasks.nightly.tasks import close_night_task, open_night_task, plan_night_task
from slimline.tasks.promote.tasks import promote_task
from slimline.tasks.report.tasks import report_task
from slimline.tasks.scrub.tasks import scrub_task
from slimline.tasks.select.tasks import select_task
from slimline.tasks.train.tasks import train_task


@flow(name="nightly")
def nightly(
    sources: list[str] | None = None,
    home: str | None = None,
    config: str | None = None,
    profile: str | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> NightlyResult:
    """Run the loop once on what is new in `sources` (default: collect.sources). A backfilled
    night passes `window_start` / `window_end`: it collects only the calls of that window."""
    settings = flow_settings(home, config, profile)
    logger = get_run_logger()
    night = open_night_task(settings)
    parent = night.run_id

    collected = collect_in_flow(settings, sources, Window.between(window_start, window_end))
    scrubbed = scrub_task(settings, parent)
    clustered = cluster_task(settings, parent)
    plan = plan_night_task(settings)
    training = evaluation = promotion = None
    if plan:
        selection = select_task(settings, sorted(plan), parent)
        training = train_task(settings, selection=selection, plan=plan, parent_run_id=parent)
        evaluation = evaluate_task(settings, training, plan=plan, parent_run_id=parent)
        promotion = promote_task(settings, evaluation, parent)
    else:
        logger.info(
            "Nothing to train tonight: no cluster changed since its last night "
            "(or nightly.max_clusters allows none)."
        )
    stages = night_stages(collected, scrubbed, clustered, plan, training, evaluation, promotion)
    report = report_task(settings, stages, evaluation, training, parent)
    result = close_night_task(settings, night, plan, stages, training, evaluation, report)
    if result.nothing_new:
        logger.info("Nothing new tonight: no new calls, no cluster to retrain.")
    logger.info(result.headline)
    return result


if __name__ == "__main__":
    nightly()
