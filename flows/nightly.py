"""The `nightly` flow: the whole conversion loop once, on what is new.

    collect -> scrub -> cluster -> plan -> train (Ray) -> evaluate -> promote -> report

Wiring only: each stage's logic lives in tasks/. A night with no new calls and no cluster to
retrain skips training, evaluation and promotion and says so; a re-run after a crash resumes
(see tasks/night.py). One MLflow parent run per night holds every stage's runs.
"""

from __future__ import annotations

import time
from datetime import datetime

from prefect import flow, get_run_logger

from slimline.config import load_settings
from slimline.runtime import configure
from slimline.tasks.collect.flow_tasks import collect_source_task, counts_from_state
from slimline.tasks.collect.ingest import Window
from slimline.tasks.night import (
    NightlyResult,
    close_night,
    cluster_new,
    evaluate_planned,
    mark_completed,
    night_figures,
    night_report,
    open_night,
    plan_training,
    promote_evaluated,
    scrub_new,
    train_planned,
)


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
    started = time.perf_counter()
    settings = load_settings(config, home=home, profile=profile)
    configure(settings)
    logger = get_run_logger()
    window = Window.between(window_start, window_end)
    run_id = open_night(settings)

    collected = [
        counts_from_state(source, collect_source_task(settings, source, window, return_state=True))
        for source in (sources or settings.collect.sources)
    ]
    scrubbed = scrub_new(settings)
    clustered = cluster_new(settings)
    plan = plan_training(settings)
    if plan:
        trained = train_planned(settings, plan, run_id)
        reports = evaluate_planned(settings, plan, trained)
        promoted = promote_evaluated(settings, reports)
        mark_completed(settings, plan, trained, reports)
    else:
        logger.info(
            "Nothing to train tonight: no cluster changed since its last night "
            "(or nightly.max_clusters allows none)."
        )
        trained, reports, promoted = None, [], None

    result = night_figures(
        collected, scrubbed, clustered, plan, trained, reports, promoted, started
    )
    result.mlflow_run_id = run_id
    result.headline = night_report(settings, run_id, result, reports, trained)
    if result.nothing_new:
        logger.info("Nothing new tonight: no new calls, no cluster to retrain.")
    logger.info(result.headline)
    close_night(settings, run_id, result)
    return result


if __name__ == "__main__":
    nightly()
