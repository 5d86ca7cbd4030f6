"""The collect stage (S1): call logs (files, OTLP spans, the logging proxy) -> the raw store.

Front: `CollectConfig`, `Window` (config.py); `CollectResult` (result.py); `run_collect`
(stage.py); `collect_task`, `collect_in_flow` (tasks.py). Only the config is imported with
the package; the rest on first use (slimline/lazy.py).
"""

from slimline.lazy import lazy_exports
from slimline.tasks.collect.config import CollectConfig, Window

__all__ = [
    "CollectConfig",
    "CollectResult",
    "SourceCounts",
    "Window",
    "collect_in_flow",
    "collect_task",
    "run_collect",
]
__getattr__ = lazy_exports(
    __name__,
    result="CollectResult SourceCounts",
    stage="run_collect",
    tasks="collect_task collect_in_flow",
)
