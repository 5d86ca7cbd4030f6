"""The cluster stage (S3): scrubbed calls -> task clusters with ids stable across nights.

Front: `ClusterConfig` (config.py); `ClusterResult` (result.py); `run_cluster` (stage.py);
`cluster_task` (tasks.py). Only the config is imported with the package; the rest on first
use (slimline/lazy.py).
"""

from slimline.lazy import lazy_exports
from slimline.tasks.cluster.config import ClusterConfig

__all__ = ["ClusterConfig", "ClusterConfigChanged", "ClusterResult", "cluster_task", "run_cluster"]
__getattr__ = lazy_exports(
    __name__, result="ClusterResult", stage="ClusterConfigChanged run_cluster", tasks="cluster_task"
)
