"""The night's Prefect tasks around the stages: open its MLflow run, plan the retraining,
close the night and publish its summary (the functions are in stage.py)."""

from __future__ import annotations

import functools
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from slimline.tasks.nightly.result import NightlyResult
from slimline.tasks.nightly.stage import close_night, morning_markdown, open_night, plan_night

ARTIFACT_KEY = "night-summary"


@functools.wraps(close_night)
def _close_and_publish(*args: Any, **kwargs: Any) -> NightlyResult:
    """close_night, then the morning's summary (`night-summary`, its description the
    headline)."""
    result = close_night(*args, **kwargs)
    create_markdown_artifact(
        key=ARTIFACT_KEY, markdown=morning_markdown(result), description=result.headline
    )
    return result


open_night_task = task(name="open-night", cache_policy=NO_CACHE)(open_night)
plan_night_task = task(name="plan-night", cache_policy=NO_CACHE)(plan_night)
close_night_task = task(name="close-night", cache_policy=NO_CACHE)(_close_and_publish)
