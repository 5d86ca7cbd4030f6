"""The select stage (S4): which small model each cluster is fine-tuned from.

Front: `SelectConfig` (config.py); `SelectResult` (result.py); `run_select` (stage.py);
`select_task` (tasks.py); the catalog of candidates in catalog.py and catalog.yaml. Only
the config is imported with the package; the rest on first use (slimline/lazy.py).
"""

from slimline.lazy import lazy_exports
from slimline.tasks.select.config import SelectConfig

__all__ = ["ClusterSelection", "SelectConfig", "SelectResult", "run_select", "select_task"]
__getattr__ = lazy_exports(
    __name__, result="ClusterSelection SelectResult", stage="run_select", tasks="select_task"
)
