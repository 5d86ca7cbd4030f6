"""The evaluate stage: each trained adapter against its base model and the champion, on
held-out conversations.

Front: `EvaluateConfig` (config.py); `EvaluateResult`, `EvalReport` (result.py);
`run_evaluate` (stage.py); `evaluate_task` (tasks.py). Inside: cluster.py (one cluster),
generate.py (decoding), metrics.py, similarity.py, judge.py. Only the config is imported
with the package; the rest on first use.
"""

from slimline.lazy import lazy_exports
from slimline.tasks.evaluate.config import EvaluateConfig

__all__ = ["EvalReport", "EvaluateConfig", "EvaluateResult", "evaluate_task", "run_evaluate"]
__getattr__ = lazy_exports(
    __name__, result="EvalReport EvaluateResult", stage="run_evaluate", tasks="evaluate_task"
)
