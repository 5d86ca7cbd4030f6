"""The serve stage (S6): champions deployed as serving bundles.

Front: `ServeConfig` (config.py); `DeployResult` (result.py); `run_deploy` (stage.py);
`deploy_task` (tasks.py); the bundle format in bundle.py. Only the config is imported with
the package; the rest on first use.
"""

from slimline.lazy import lazy_exports
from slimline.tasks.serve.config import ServeConfig

__all__ = ["DeployResult", "ServeConfig", "deploy_task", "run_deploy"]
__getattr__ = lazy_exports(__name__, result="DeployResult", stage="run_deploy", tasks="deploy_task")
