"""Prefect task wrappers of the evaluate stage (the logic lives in stage.py and run.py)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.evaluate.report import EvalReport


@task(name="evaluate-clusters", cache_policy=NO_CACHE)
def evaluate_clusters_task(settings: Settings, train_result: Any = None) -> list[EvalReport]:
    """Evaluate every cluster of `train_result` (None: each cluster's newest train run) and
    keep the reports in the work store for promotion."""
    from slimline.runtime import open_stores
    from slimline.tasks.evaluate.stage import (
        evaluate_clusters,
        latest_train_entries,
        save_reports,
    )

    work = open_stores(settings)[1]
    if train_result is None:
        train_result = latest_train_entries(settings)
    reports = evaluate_clusters(settings, train_result, work)
    save_reports(work, reports)
    return reports
