"""Settings of dataset building and fine-tuning."""

from typing import Literal

from pydantic import BaseModel, Field


class TrainConfig(BaseModel):
    """LoRA/DoRA fine-tuning of one adapter per cluster."""

    method: Literal["lora", "dora"] = Field(default="lora", description="adapter type")
    rank: int = Field(default=16, description="LoRA rank r")
    alpha: int = Field(default=32, description="LoRA alpha")
    dropout: float | None = Field(
        default=None,
        description="LoRA dropout; None: 0.05 for LoRA, 0 for DoRA (with dropout, PEFT's DoRA "
        "recomputes every adapted layer's base output: ~1.65x slower steps, docs/train.md)",
    )
    target_modules: list[str] | str = Field(default="all-linear", description="modules adapted")
    learning_rate: float = Field(default=2e-4, description="AdamW learning rate")
    max_steps: int = Field(default=60, description="optimizer steps per cluster (-1: epochs)")
    epochs: float = Field(default=1.0, description="epochs when max_steps is -1")
    max_seq_len: int = Field(default=1024, description="tokens per example after compaction")
    batch_size: int = Field(default=1, description="examples per device step")
    grad_accum: int = Field(default=4, description="gradient accumulation steps")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="auto: bf16 on GPUs that support it, fp32 on CPU"
    )
    eval_fraction: float = Field(default=0.2, description="share of conversations held out")
    min_cluster_calls: int = Field(default=20, description="clusters smaller than this are skipped")
    base_model: str | None = Field(
        default=None,
        description="a model source every cluster trains on instead of the selected one "
        "(hub id, local directory or pkg:...; pins the model, e.g. in tests)",
    )
    lr_scheduler: str = Field(default="linear", description="learning-rate schedule")
    gradient_checkpointing: bool = Field(
        default=False, description="trade compute for memory (slower; for long windows on GPUs)"
    )
    seed: int = Field(
        default=0, description="seed of the split, the adapter init and the data order"
    )
    race_steps: int = Field(
        default=0,
        description="optimizer steps of each candidate in a race of base models "
        "(select.race_top_k > 1); 0: a quarter of max_steps, at least 1",
    )
    eval_loss_examples: int = Field(
        default=16, description="held-out examples scored for eval_loss after training (0: none)"
    )
    ray_address: str | None = Field(
        default=None,
        description="an existing Ray cluster (ray://host:10001, host:6379 or auto); "
        "None: a local Ray on 127.0.0.1, stopped when training ends",
    )
    ray_num_cpus: int | None = Field(
        default=None, description="CPUs of the local Ray node; None: all of this machine's"
    )
    workers_per_job: int = Field(
        default=1,
        description="Ray Train workers per job; above 1 a job is a TorchTrainer running DDP "
        "across that many workers (one GPU each when GPUs exist)",
    )
    ray_storage_path: str | None = Field(
        default=None,
        description="Ray Train storage of multi-worker jobs (shared storage on a multi-node "
        "cluster); None: $SLIMLINE_HOME/ray",
    )
    gpus_per_job: float = Field(
        default=1.0, description="GPUs per job (per worker) when GPUs exist"
    )
    cpus_per_job: float | None = Field(
        default=None,
        description="CPUs per job (per worker); None: without GPUs the node's CPUs shared among "
        "the jobs (at least 1 each), with GPUs 1",
    )
    max_retries: int = Field(default=1, description="retries of a failed job")
    system_metrics_interval_s: float = Field(
        default=5.0, description="seconds between system-metric samples during a job"
    )
