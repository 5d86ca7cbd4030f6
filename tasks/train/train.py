"""One adapter: TRL's SFTTrainer with a PEFT LoRA or DoRA config on one cluster's examples.

`train_adapter(job, out_dir)` is what a Ray job runs (and what tests and benchmarks call in
process): it loads the base model, trains the adapter on the job's prompt-completion
examples (TRL masks the prompt, so the loss falls on the completion only), scores the
held-out examples' loss before and after training, and writes the adapter folder:

    out_dir/adapter_config.json, adapter_model.safetensors   the PEFT adapter
    out_dir/tokenizer.json, tokenizer_config.json, ...       the tokenizer it was trained with
    out_dir/distilled_context.json                           {text, hash, ..., base_model}

It returns a `JobResult`: the loss per optimizer step with its timestamp, the system metrics
sampled while it ran (MLflow's own collectors), timings and where it ran. Nothing here
talks to MLflow: the driver logs each result once the job is back (jobs.py says why).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slimline.prompt import CONTEXT_FILE
from slimline.tasks.train.config import TrainConfig

log = logging.getLogger(__name__)

# progress(cluster_id, step, total_steps, loss): called after every optimizer step
Progress = Callable[[int, int, int, float | None], None]


@dataclass
class TrainJob:
    """Everything one adapter's training needs; plain data, so it travels to a Ray worker."""

    cluster_id: int
    slug: str
    base_model: str  # model source: hub id, local directory or pkg:PACKAGE/FILE.gguf
    examples: list[dict[str, Any]]  # {"prompt": [messages], "completion": [message]}
    config: dict[str, Any]  # TrainConfig.model_dump()
    context: dict[str, Any] = field(default_factory=dict)  # DistilledContext.to_dict()
    eval_examples: list[dict[str, Any]] = field(default_factory=list)
    chat_template: str | None = None  # for a tokenizer that has none (base models)
    candidate: str | None = None  # the catalog id this job tries, in a race of base models
    progress_bar: bool = True  # a bar on a terminal; in logs (CI, `| tee`) a line per tenth


@dataclass
class JobResult:
    """What one job reports back; `files` carries the adapter folder across machines."""

    cluster_id: int
    steps: list[dict[str, float]]  # {step, loss, learning_rate, grad_norm, timestamp_ms}
    first_loss: float | None
    final_loss: float | None
    eval_loss: float | None
    eval_loss_per_char: float | None  # eval_loss scaled to completion characters
    eval_loss_before: float | None  # the held-out loss of the base model (before training)
    train_seconds: float  # the optimizer loop
    job_seconds: float  # load + train + save
    started_ms: int
    ended_ms: int
    device: str
    precision: str
    torch_threads: int
    host: str
    trainable_params: int
    total_params: int
    system_metrics: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    workers: int = 1

    def summary(self) -> dict[str, Any]:
        """The result without the per-step curve and the files (for logs and results)."""
        data = asdict(self)
        for key in ("steps", "system_metrics", "files"):
            data.pop(key)
        return data


def resolve_precision(precision: str, device: str) -> str:
    """`auto`: bf16 on a GPU that supports it, else fp32 (CPU training is fp32)."""
    if precision != "auto":
        return precision
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "fp32"


class SystemSampler:
    """System metrics sampled in the worker with MLflow's collectors (CPU, memory, disk,
    network, GPU when there is one), kept for the driver to log as `system/...`."""

    def __init__(self, interval_s: float, gpu: bool):
        from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
        from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
        from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

        self.monitors: list[Any] = [CPUMonitor(), DiskMonitor(), NetworkMonitor()]
        if gpu:
            try:
                from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor

                self.monitors.append(GPUMonitor())
            except Exception as exc:  # pynvml missing or no NVML: CPU metrics still count
                log.info("no GPU system metrics: %s", exc)
        self.interval_s = max(0.5, interval_s)
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slimline-sysmetrics", daemon=True)

    def _sample(self) -> None:
        values: dict[str, float] = {}
        for monitor in self.monitors:
            monitor.collect_metrics()
            values.update(monitor.aggregate_metrics())
            monitor.clear_metrics()
        stamp = int(time.time() * 1000)
        self.samples.append({"timestamp_ms": stamp, "step": len(self.samples), "values": values})

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> SystemSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()


def _callbacks(job: TrainJob, progress: Progress | None, steps: list[dict[str, float]]) -> list:
    from transformers import TrainerCallback

    class StepRecorder(TrainerCallback):
        """Keeps the loss of every optimizer step with its wall-clock time."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                row = {"step": int(state.global_step), "timestamp_ms": int(time.time() * 1000)}
                for key in ("loss", "learning_rate", "grad_norm"):
                    if logs.get(key) is not None:
                        row[key] = float(logs[key])
                steps.append(row)
                if progress is not None:
                    progress(job.cluster_id, state.global_step, state.max_steps, row["loss"])

    return [StepRecorder()]


def lora_config(cfg: TrainConfig) -> Any:
    """PEFT's LoraConfig for `cfg` (DoRA when `method` is dora)."""
    from peft import LoraConfig

    dora = cfg.method == "dora"
    dropout = cfg.dropout if cfg.dropout is not None else (0.0 if dora else 0.05)
    return LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=dropout,
        target_modules=cfg.target_modules,
        use_dora=dora,
        bias="none",
        task_type="CAUSAL_LM",
    )


def sft_config(cfg: TrainConfig, out_dir: Path, device: str, precision: str, bar: bool) -> Any:
    """TRL's SFTConfig for `cfg`: no checkpoints, loss logged every step, no reporting."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out_dir / "trainer"),
        max_steps=cfg.max_steps,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        max_length=cfg.max_seq_len,
        completion_only_loss=True,
        activation_checkpointing=cfg.gradient_checkpointing,
        bf16=precision == "bf16",
        fp16=False,
        use_cpu=device == "cpu",
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=not bar,
        dataloader_num_workers=0,
    )


def write_context(folder: Path, context: dict[str, Any], base_model: str) -> Path:
    """The context the adapter learnt (`DistilledContext.to_dict()`) and its base model,
    beside the adapter."""
    path = folder / CONTEXT_FILE
    path.write_text(json.dumps({**context, "base_model": base_model}, ensure_ascii=False, indent=1))
    return path


def _tokens_per_char(tokenizer: Any, examples: list[dict[str, Any]]) -> float:
    """Completion tokens per completion character: turns a per-token loss into a loss per
    character, which compares models with different tokenizers (a race)."""
    texts = [m["content"] for e in examples for m in e["completion"]]
    tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return tokens / max(1, sum(len(t) for t in texts))


def train_adapter(
    job: TrainJob, out_dir: str | Path, progress: Progress | None = None, bar: bool = True
) -> JobResult:
    """Train one adapter on `job.examples` and write it to `out_dir` (see the module doc)."""
    import datasets
    import torch
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from slimline.models import load_model

    if not job.examples:
        raise ValueError(f"cluster {job.cluster_id} ({job.slug}): no training examples")
    cfg = TrainConfig(**job.config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = resolve_precision(cfg.precision, device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    datasets.disable_progress_bars()
    steps: list[dict[str, float]] = []
    with SystemSampler(cfg.system_metrics_interval_s, gpu=device == "cuda") as sampler:
        model, tokenizer = load_model(job.base_model, dtype=dtype)
        if job.chat_template and not getattr(tokenizer, "chat_template", None):
            tokenizer.chat_template = job.chat_template
        trainer = SFTTrainer(
            model=model,
            args=sft_config(cfg, out, device, precision, bar),
            train_dataset=datasets.Dataset.from_list(job.examples),
            eval_dataset=datasets.Dataset.from_list(job.eval_examples)
            if job.eval_examples
            else None,
            processing_class=tokenizer,
            peft_config=lora_config(cfg),
            callbacks=_callbacks(job, progress, steps),
        )
        if not bar:  # no per-step log lines either: the caller shows progress
            trainer.remove_callback(PrinterCallback)
        trainable, total = trainer.model.get_nb_trainable_parameters()
        before = None
        if job.eval_examples:  # the adapter starts as the identity: this is the base model
            before = float(trainer.evaluate()["eval_loss"])
        loop_start = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - loop_start
        eval_loss = per_char = None
        if job.eval_examples:
            eval_loss = float(trainer.evaluate()["eval_loss"])
            per_char = eval_loss * _tokens_per_char(tokenizer, job.eval_examples)
        if trainer.args.process_index == 0:  # one writer when several workers train (DDP)
            trainer.model.save_pretrained(out)
            tokenizer.save_pretrained(out)
            write_context(out, job.context, job.base_model)
    losses = [s["loss"] for s in steps if "loss" in s]
    ended = time.time()
    return JobResult(
        cluster_id=job.cluster_id,
        steps=steps,
        first_loss=losses[0] if losses else None,
        final_loss=losses[-1] if losses else None,
        eval_loss=eval_loss,
        eval_loss_per_char=per_char,
        eval_loss_before=before,
        train_seconds=round(train_seconds, 3),
        job_seconds=round(ended - started, 3),
        started_ms=int(started * 1000),
        ended_ms=int(ended * 1000),
        device=device,
        precision=precision,
        torch_threads=torch.get_num_threads(),
        host=socket.gethostname(),
        trainable_params=int(trainable),
        total_params=int(total),
        system_metrics=sampler.samples,
        workers=int(trainer.args.world_size),
    )


def pack_folder(folder: Path) -> dict[str, bytes]:
    """A folder's files as {relative path: bytes} (an adapter is a few MB)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "trainer" not in p.relative_to(folder).parts
    }


def unpack_folder(files: dict[str, bytes], folder: Path) -> Path:
    """Write `files` (from `pack_folder`) under `folder`."""
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder
