"""Training jobs on Ray: one job per cluster, run concurrently as the cluster's resources allow.

- Where: a local Ray started for the call (`address="local"`, `num_cpus` =
  `train.ray_num_cpus` or this machine's CPUs, no dashboard) and shut down afterwards, or an
  existing cluster (KubeRay) at `train.ray_address`, which is only disconnected from.
  `runtime_env` carries MLFLOW_TRACKING_URI, the Hugging Face offline switches and
  SLIMLINE_MODEL_CACHE to the workers; remote workers need slimline installed in their image.
- Resources: with GPUs in the cluster each job takes `gpus_per_job` GPU(s) (default one) and
  1 CPU; without, jobs fall back to CPU and share the node's CPUs (`cpus_per_job`, default
  the largest node's CPUs divided among the jobs, at least 1; Ray sets OMP_NUM_THREADS to it).
  Ray queues what does not fit and starts it when a job finishes.
- Shape: a job with one worker (`workers_per_job` = 1, the default) is a Ray task; with more
  it is a Ray Train `TorchTrainer` (ScalingConfig(num_workers, use_gpu, resources_per_worker),
  DDP over the workers) launched from a Ray task, its adapter returned as a checkpoint under
  `train.ray_storage_path` (shared storage on a multi-node cluster). A TorchTrainer costs
  ~30 s of set-up per job on a 2-core machine (controller, worker group, process group), so
  single-worker jobs skip it.
- Failures: a job that raises (or whose worker dies) is retried `max_retries` times (Ray task
  retries, or FailureConfig(max_failures) for TorchTrainer); a job that still fails is
  reported with its error and the other jobs go on.
- MLflow: workers never write to it. Each job returns its adapter files, loss curve and
  system-metric samples, and the driver logs them when the job is back: one writer, so a
  SQLite store never sees two processes writing at once ("database is locked"), and the
  same code works when workers cannot reach the tracking server.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimline.config import Settings
from slimline.tasks.train.train import JobResult, TrainJob, pack_folder, train_adapter

log = logging.getLogger(__name__)

# on_done(job, result, error): called in the driver as each job finishes (error: a message)
OnDone = Callable[[TrainJob, JobResult | None, str | None], None]


@dataclass
class Placement:
    """The resources each job gets on the Ray cluster in use."""

    use_gpu: bool
    cpus: float
    gpus: float
    workers: int
    cluster_cpus: float
    cluster_gpus: float

    def describe(self) -> str:
        per = f"{self.gpus:g} GPU + {self.cpus:g} CPU" if self.use_gpu else f"{self.cpus:g} CPU"
        return f"{self.workers} worker(s) x {per} per job"


def worker_env(settings: Settings) -> dict[str, str]:
    """Environment the Ray workers need (runtime_env env_vars)."""
    from slimline.models import model_cache_dir

    env = {
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "SLIMLINE_MODEL_CACHE": str(model_cache_dir()),
        "TOKENIZERS_PARALLELISM": "false",
    }
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "HF_DATASETS_OFFLINE"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


@contextmanager
def ray_session(settings: Settings) -> Iterator[dict[str, Any]]:
    """Ray for the duration of the block: the configured cluster, or a local one on this
    machine. An already initialised Ray (e.g. a caller's) is used as is and left running."""
    import ray

    if ray.is_initialized():
        yield {"address": "existing", "started": False}
        return
    cfg = settings.train
    common = {
        "runtime_env": {"env_vars": worker_env(settings)},
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if cfg.ray_address:
        ray.init(address=cfg.ray_address, **common)
    else:
        ray.init(
            address="local",
            num_cpus=cfg.ray_num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            **common,
        )
    try:
        yield {"address": cfg.ray_address or "local", "started": True}
    finally:
        ray.shutdown()


def placement(settings: Settings, num_jobs: int) -> Placement:
    """Resources per job on the current Ray cluster (GPU when there is one, else CPU)."""
    import ray

    cfg = settings.train
    total = ray.cluster_resources()
    gpus = float(total.get("GPU", 0))
    node_cpus = max(
        (float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")),
        default=float(total.get("CPU", 1)),
    )
    workers = max(1, cfg.workers_per_job)
    if gpus > 0:
        cpus = cfg.cpus_per_job or 1.0
    else:
        share = node_cpus / max(1, min(num_jobs * workers, node_cpus))
        cpus = cfg.cpus_per_job or max(1.0, math.floor(share))
    if cpus > node_cpus:
        raise ValueError(
            f"train.cpus_per_job={cpus:g} exceeds the largest Ray node's {node_cpus:g} CPUs"
        )
    return Placement(
        use_gpu=gpus > 0,
        cpus=cpus,
        gpus=cfg.gpus_per_job if gpus > 0 else 0.0,
        workers=workers,
        cluster_cpus=float(total.get("CPU", 0)),
        cluster_gpus=gpus,
    )


class _Lines:
    """Progress for logs: one line per tenth of the steps (a bar redrawn in a log file
    repeats itself hundreds of times)."""

    def __init__(self, slug: str) -> None:
        self.slug, self.shown = slug, -1

    def update(self, cluster_id: int, step: int, total: int, loss: float | None) -> None:
        tenth = step * 10 // max(total, 1)
        if tenth > self.shown or step == total:
            self.shown = tenth
            figure = f", loss {loss:.3f}" if loss is not None else ""
            print(f"train {self.slug}: step {step}/{total}{figure}", flush=True)

    def close(self) -> None:
        pass


def _progress(job: TrainJob) -> tuple[Any, Callable[[int, int, int, float | None], None]]:
    """A progress bar that Ray draws on the driver's console (ray.experimental.tqdm_ray),
    or plain lines when the driver does not write to a terminal."""
    if not job.progress_bar:
        lines = _Lines(job.slug)
        return lines, lines.update
    from ray.experimental import tqdm_ray

    bar = tqdm_ray.tqdm(total=max(1, job.config.get("max_steps") or 1), desc=job.slug)

    def update(cluster_id: int, step: int, total: int, loss: float | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(step - bar.n)
        if loss is not None:
            bar.set_description(f"{job.slug} loss {loss:.3f}")

    return bar, update


def run_single_worker(job: TrainJob) -> JobResult:
    """A job as a Ray task: train in a scratch folder, return the result with its files."""
    tmp = Path(tempfile.mkdtemp(prefix="slimline-adapter-"))
    bar, update = _progress(job)
    try:
        result = train_adapter(job, tmp, progress=update, bar=False)
        result.files = pack_folder(tmp)
        return result
    finally:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _torch_trainer_loop(config: dict[str, Any]) -> None:
    """Each Ray Train worker trains (DDP); rank 0 reports the adapter as a checkpoint."""
    import pickle

    import ray.train

    job: TrainJob = config["job"]
    rank = ray.train.get_context().get_world_rank()
    tmp = Path(tempfile.mkdtemp(prefix="slimline-adapter-"))
    try:
        result = train_adapter(job, tmp / "adapter", bar=False)
        metrics = {"final_loss": result.final_loss or float("nan")}
        if rank == 0:
            (tmp / "result.pkl").write_bytes(pickle.dumps(result))
            checkpoint = ray.train.Checkpoint.from_directory(str(tmp))
            ray.train.report(metrics, checkpoint=checkpoint)
        else:
            ray.train.report(metrics)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_multi_worker(job: TrainJob, place: Placement, storage: str, retries: int) -> JobResult:
    """A job as a Ray Train TorchTrainer over `place.workers` workers (launched in a task)."""
    import pickle

    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    per_worker = {"CPU": place.cpus, **({"GPU": place.gpus} if place.use_gpu else {})}
    trainer = TorchTrainer(
        _torch_trainer_loop,
        train_loop_config={"job": job},
        scaling_config=ScalingConfig(
            num_workers=place.workers, use_gpu=place.use_gpu, resources_per_worker=per_worker
        ),
        run_config=RunConfig(
            name=f"{job.slug}-{os.urandom(4).hex()}",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=retries),
        ),
    )
    outcome = trainer.fit()
    if outcome.checkpoint is None:
        raise RuntimeError(f"cluster {job.cluster_id}: the TorchTrainer reported no adapter")
    with outcome.checkpoint.as_directory() as folder:
        result: JobResult = pickle.loads((Path(folder) / "result.pkl").read_bytes())
        result.files = pack_folder(Path(folder) / "adapter")
    return result


def _error_text(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:500]


def run_jobs(
    jobs: list[TrainJob], settings: Settings, on_done: OnDone | None = None
) -> list[tuple[JobResult | None, str | None]]:
    """Run every job on Ray (a session is started when none is active); returns
    `(result, error)` per job, in the order of `jobs`.

    `on_done` is called in the driver as each job finishes, in finishing order.
    """
    if not jobs:
        return []
    with ray_session(settings):
        return _run(jobs, settings, on_done)


def _run(
    jobs: list[TrainJob], settings: Settings, on_done: OnDone | None
) -> list[tuple[JobResult | None, str | None]]:
    import ray

    cfg = settings.train
    place = placement(settings, len(jobs))
    log.info("training %d adapter(s) on Ray: %s", len(jobs), place.describe())
    pending: dict[Any, int] = {}
    on_terminal = sys.stderr.isatty()
    for i, job in enumerate(jobs):
        job.progress_bar = on_terminal
        name = f"train:{job.slug}" + (f"~{job.candidate}" if job.candidate else "")
        if place.workers == 1:
            task = ray.remote(run_single_worker).options(
                num_cpus=place.cpus,
                num_gpus=place.gpus,
                max_retries=cfg.max_retries,
                retry_exceptions=True,
                name=name,
            )
            ref = task.remote(job)
        else:
            storage = cfg.ray_storage_path or str(settings.path("ray"))
            task = ray.remote(run_multi_worker).options(num_cpus=0, name=name)
            ref = task.remote(job, place, storage, cfg.max_retries)
        pending[ref] = i
    outcomes: list[tuple[JobResult | None, str | None]] = [(None, "not run")] * len(jobs)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            i = pending.pop(ref)
            job = jobs[i]
            try:
                result, error = ray.get(ref), None
                log.info(
                    "%s: trained, loss %s -> %s", job.slug, result.first_loss, result.final_loss
                )
            except Exception as exc:  # a failed job must not take the others down
                result, error = None, _error_text(exc)
                log.warning("%s: failed: %s", job.slug, error)
            outcomes[i] = (result, error)
            if on_done is not None:
                on_done(job, result, error)
    return outcomes
