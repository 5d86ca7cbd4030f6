"""The serve stage (S6): champions deployed as serving bundles, and the router that answers
agents' calls with them (`slimline serve`), falling back to the LLM.

Front: `ServeConfig` (config.py); `DeployResult` (result.py); `run_deploy`, `build_router`,
`run_replay`, `reload_router` (stage.py); `deploy_task`, `reload_router_task` (tasks.py);
the bundle format in bundle.py; the router in router.py (champions.py, assign.py, local.py,
openai.py, decisions.py), replay in replay.py. Only the config is imported with the package;
the rest on first use.
"""

from slimline.lazy import lazy_exports
from slimline.tasks.serve.config import ServeConfig

__all__ = [
    "DeployResult",
    "ServeConfig",
    "build_router",
    "deploy_task",
    "reload_router",
    "reload_router_task",
    "run_deploy",
    "run_replay",
]
__getattr__ = lazy_exports(
    __name__,
    result="DeployResult",
    stage="run_deploy build_router run_replay reload_router",
    tasks="deploy_task reload_router_task",
)
