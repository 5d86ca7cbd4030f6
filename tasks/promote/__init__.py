"""The promote stage: the MLflow registry's gate. Each evaluated adapter becomes a version;
the gate (gate.py, the one place that decides) moves `champion` to it or keeps it out, and a
promotion emits the Prefect event that deployments trigger on (events.py).

Front: `PromoteConfig` (config.py); `PromoteResult` (result.py); `run_promote` (stage.py);
`promote_task` (tasks.py). Only the config is imported with the package; the rest on first
use.
"""

from slimline.lazy import lazy_exports
from slimline.tasks.promote.config import PromoteConfig

__all__ = ["PromoteConfig", "PromoteResult", "promote_task", "run_promote"]
__getattr__ = lazy_exports(
    __name__, result="PromoteResult", stage="run_promote", tasks="promote_task"
)
