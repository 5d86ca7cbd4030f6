"""The train stage (S5): an adapter per cluster, fine-tuned with LoRA/DoRA as Ray jobs.

Front: `TrainConfig` (config.py); `TrainResult` (result.py); `run_train` (stage.py);
`train_task` (tasks.py). Inside: dataset.py (the SFT examples), plan.py (a cluster's split,
candidates and jobs; races of base models), train.py (one adapter with TRL's SFTTrainer and
PEFT), jobs.py (the jobs on Ray, retries, CPU fallback), tracking.py (the MLflow run of each
cluster). Only the config is imported with the package; the rest on first use.
"""

from slimline.lazy import lazy_exports
from slimline.tasks.train.config import TrainConfig

__all__ = ["ClusterTraining", "TrainConfig", "TrainResult", "run_train", "train_task"]
__getattr__ = lazy_exports(
    __name__, result="ClusterTraining TrainResult", stage="run_train", tasks="train_task"
)
