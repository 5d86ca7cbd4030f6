"""The night's Prefect tasks around the stages: open its MLflow run, plan the retraining,
close the night (the functions are in stage.py)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from slimline.tasks.nightly.stage import close_night, open_night, plan_night

open_night_task = task(name="open-night", cache_policy=NO_CACHE)(open_night)
plan_night_task = task(name="plan-night", cache_policy=NO_CACHE)(plan_night)
close_night_task = task(name="close-night", cache_policy=NO_CACHE)(close_night)
