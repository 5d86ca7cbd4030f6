"""The nightly loop's own bookkeeping: the night's MLflow parent run, the retraining plan
(which clusters changed since their last completed night), the night's figures, and which
clusters are done. The stages themselves are the other packages; flows/nightly.py wires them.

Front: `NightlyConfig`, `ScheduleConfig` (config.py); `NightlyResult` (result.py);
`open_night`, `plan_night`, `close_night` (stage.py); their Prefect tasks (tasks.py). Only
the config is imported with the package; the rest on first use.
"""

from slimline.lazy import lazy_exports
from slimline.tasks.nightly.config import NightlyConfig, ScheduleConfig

__all__ = [
    "NightRun",
    "NightlyConfig",
    "NightlyResult",
    "ScheduleConfig",
    "close_night",
    "close_night_task",
    "open_night",
    "open_night_task",
    "plan_night",
    "plan_night_task",
]
__getattr__ = lazy_exports(
    __name__,
    result="NightRun NightlyResult",
    stage="open_night plan_night close_night",
    tasks="open_night_task plan_night_task close_night_task",
)
