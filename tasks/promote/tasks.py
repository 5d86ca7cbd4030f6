"""Prefect task wrappers of the promote stage (the logic lives in run.py, bundle.py and
summary.py)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from slimline.config import Settings
from slimline.tasks.evaluate.report import EvalReport
from slimline.tasks.promote.bundle import Bundle
from slimline.tasks.promote.run import PromoteResult


@task(name="promote-clusters", cache_policy=NO_CACHE)
def promote_clusters_task(
    settings: Settings, reports: list[EvalReport] | None = None
) -> PromoteResult:
    """Gate and register each evaluated cluster (None: the reports of the last evaluation)."""
    from slimline.tasks.promote.run import promote_clusters

    if reports is None:
        from slimline.runtime import open_stores
        from slimline.tasks.evaluate.stage import load_reports

        reports = load_reports(open_stores(settings)[1])
    return promote_clusters(settings, reports)


@task(name="served-summary", cache_policy=NO_CACHE)
def served_summary_task(settings: Settings, run_id: str | None = None) -> dict[str, Any]:
    """What the champions serve: logged to MLflow (`served.*`) and as a markdown artifact."""
    from slimline.runtime import open_stores
    from slimline.tasks.promote.summary import (
        log_served_summary,
        publish_served_summary,
        served_summary,
    )

    summary = served_summary(settings, open_stores(settings)[1])
    log_served_summary(settings, summary, run_id)
    publish_served_summary(summary)
    return summary


@task(name="export-bundle", cache_policy=NO_CACHE)
def export_bundle_task(settings: Settings, model_name: str, version: int | None) -> Bundle:
    from slimline.tasks.promote.bundle import export_bundle

    return export_bundle(settings, model_name, version)


@task(name="smoke-test", cache_policy=NO_CACHE)
def smoke_test_task(bundle: Bundle, max_new_tokens: int) -> dict[str, Any]:
    from slimline.tasks.promote.bundle import smoke_test

    return smoke_test(bundle, max_new_tokens)
