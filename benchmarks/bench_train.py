"""Training benchmarks, each a ratio of two timings taken in the same run (CPU here; the GPU
when there is one):

- lora_vs_plain: a LoRA optimizer step of slimline's trainer (TRL SFTTrainer + PEFT) over
  plain PyTorch forward+backward of the same model on the same examples (aim <= 1.5);
- dora_vs_lora: the same step with DoRA over LoRA, each with its default dropout (aim <=
  1.3); DoRA with dropout 0.05 is reported too (PEFT then recomputes each base layer);
- ray_vs_inprocess: one job (8 steps of 2 examples) through Ray (run_jobs, on a worker that
  ran a job before) over the same job called in process (aim <= 1.10); Ray's start and a
  first 1-step job on a fresh worker (which imports torch, transformers...) are reported;
- n_on_k: N jobs on K one-CPU Ray workers over one job alone (aim <= 1.15 x ceil(N/K)).

Step ratios use the real SmolLM2 on real tau2 calls at a modest window; the Ray ratios use
SmolLM2 too, and a small random Llama for the N-jobs one (to keep the whole under minutes).
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import tau2_objects

MAX_SEQ_LEN = 512
STEPS = 6


def _examples(n: int) -> list[dict[str, Any]]:
    """n SFT examples from real tau2 airline calls under SmolLM2's tokenizer."""
    from slimline.models import DEFAULT_BASE_MODEL, load_tokenizer
    from slimline.prompt import distilled_context
    from slimline.tasks.collect.formats import from_chat_completion_pair
    from slimline.tasks.train.dataset import build_dataset

    objs = [o for o in tau2_objects() if o.get("agent") == "tau2-airline"][: n * 3]
    records = [from_chat_completion_pair(o, "tau2", f"airline {i}") for i, o in enumerate(objs)]
    tok = load_tokenizer(DEFAULT_BASE_MODEL)
    built = build_dataset(records, distilled_context(records), tok, MAX_SEQ_LEN)
    return built.examples[:n]


def _settings(home: Path, **train: Any) -> Any:
    from slimline.config import load_settings

    return load_settings(home=home, train=train)


def _job(base: str, examples: list[dict[str, Any]], steps: int, **cfg: Any) -> Any:
    from slimline.tasks.train.config import TrainConfig
    from slimline.tasks.train.train import TrainJob

    base_cfg = {"grad_accum": 1, "batch_size": 1, "max_seq_len": MAX_SEQ_LEN}
    config = TrainConfig(max_steps=steps, eval_loss_examples=0, **{**base_cfg, **cfg})
    return TrainJob(0, "bench", base, examples, config.model_dump(), {"text": "", "hash": ""})


def _step_seconds(result: Any) -> float:
    """Median seconds per optimizer step, leaving out the first (warm-up) step."""
    stamps = [s["timestamp_ms"] for s in result.steps]
    deltas = [(b - a) / 1000 for a, b in itertools.pairwise(stamps)]
    return statistics.median(deltas)


def _plain_step_seconds(base: str, examples: list[dict[str, Any]]) -> float:
    """Median seconds of plain forward+backward (all weights trainable) per example."""
    import torch

    from slimline.models import load_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else None
    model, tok = load_model(base, dtype=dtype)
    model.to(device).train()
    times = []
    for ex in [examples[0], *examples]:  # the first pass warms up
        ids = tok.apply_chat_template(
            ex["prompt"] + ex["completion"], tokenize=True, return_dict=True, return_tensors="pt"
        )["input_ids"].to(device)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def _small_base(folder: Path) -> str:
    """A small random Llama (256 hidden, 4 layers) with SmolLM2's tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from slimline.models import DEFAULT_BASE_MODEL, load_tokenizer

    tok = load_tokenizer(DEFAULT_BASE_MODEL)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _through_ray(settings: Any, jobs: list[Any]) -> float:
    from slimline.tasks.train.jobs import run_jobs

    start = time.perf_counter()
    outcomes = run_jobs(jobs, settings)
    seconds = time.perf_counter() - start
    errors = [e for _, e in outcomes if e]
    if errors:
        raise RuntimeError(f"benchmark jobs failed: {errors}")
    return seconds


def main(out_dir: Path) -> dict[str, Any]:
    import ray
    import torch

    from slimline.models import DEFAULT_BASE_MODEL, load_model
    from slimline.tasks.train.jobs import ray_session
    from slimline.tasks.train.train import train_adapter

    device = "cuda" if torch.cuda.is_available() else "cpu"
    cpus = os.cpu_count() or 1
    scratch = Path(tempfile.mkdtemp(prefix="bench-train-"))
    load_model(DEFAULT_BASE_MODEL)  # converted and cached before anything is timed
    examples = _examples(STEPS + 1)
    out: dict[str, Any] = {"device": device, "cpus": cpus, "torch_threads": torch.get_num_threads()}
    out["examples"] = len(examples)
    out["max_seq_len"] = MAX_SEQ_LEN

    # --- step time: LoRA vs plain forward+backward, DoRA vs LoRA -------------------------
    # two rounds, interleaved, the faster of each: a neighbour's load hits both sides alike
    timings: dict[str, list[float]] = {"plain": [], "lora": [], "dora": []}
    for rnd in range(2):
        timings["plain"].append(_plain_step_seconds(DEFAULT_BASE_MODEL, examples[1:]))
        for method in ("lora", "dora"):
            job = _job(DEFAULT_BASE_MODEL, examples, STEPS + 1, method=method)
            result = train_adapter(job, scratch / f"{method}{rnd}", bar=False)
            timings[method].append(_step_seconds(result))
    dropout = _job(DEFAULT_BASE_MODEL, examples, STEPS + 1, method="dora", dropout=0.05)
    out["dora_with_dropout_step_s"] = round(
        _step_seconds(train_adapter(dropout, scratch / "dora-dropout", bar=False)), 3
    )
    plain = min(timings["plain"])
    out["plain_fwd_bwd_s"] = round(plain, 3)
    out["lora_step_s"] = round(min(timings["lora"]), 3)
    out["dora_step_s"] = round(min(timings["dora"]), 3)
    out["step_rounds_s"] = {k: [round(x, 3) for x in v] for k, v in timings.items()}
    out["lora_vs_plain"] = round(out["lora_step_s"] / out["plain_fwd_bwd_s"], 3)
    out["dora_vs_lora"] = round(out["dora_step_s"] / out["lora_step_s"], 3)
    out["dora_with_dropout_vs_lora"] = round(
        out["dora_with_dropout_step_s"] / out["lora_step_s"], 3
    )
    print(
        f"   step: plain fwd+bwd {plain:.2f} s, LoRA {out['lora_step_s']:.2f} s "
        f"(x{out['lora_vs_plain']}), DoRA {out['dora_step_s']:.2f} s (x{out['dora_vs_lora']}; "
        f"with dropout x{out['dora_with_dropout_vs_lora']})",
        flush=True,
    )

    # --- one job through Ray vs in process -------------------------------------------------
    # a job like a night's (8 optimizer steps of 2 examples); in process, through Ray on a
    # worker that has run a job before, in process again: the faster in-process run counts
    job = _job(DEFAULT_BASE_MODEL, examples, 8, grad_accum=2, learning_rate=1e-4)
    short = _job(DEFAULT_BASE_MODEL, examples, 1)
    inproc = []
    start = time.perf_counter()
    train_adapter(job, scratch / "inproc0", bar=False)
    inproc.append(time.perf_counter() - start)
    settings = _settings(scratch / "home", ray_num_cpus=cpus, cpus_per_job=None, max_retries=0)
    start = time.perf_counter()
    with ray_session(settings):
        out["ray_start_s"] = round(time.perf_counter() - start, 2)
        cold = _through_ray(settings, [short])  # a fresh worker imports torch, transformers...
        warm = _through_ray(settings, [job])
    start = time.perf_counter()
    train_adapter(job, scratch / "inproc1", bar=False)
    inproc.append(time.perf_counter() - start)
    out["inprocess_job_s"] = [round(x, 2) for x in inproc]
    out["ray_job_s"] = round(warm, 2)
    out["ray_first_job_1_step_s"] = round(cold, 2)
    out["ray_vs_inprocess"] = round(warm / min(inproc), 3)
    print(
        f"   job: in process {min(inproc):.1f} s, through Ray {warm:.1f} s "
        f"(x{out['ray_vs_inprocess']}); Ray start {out['ray_start_s']} s, first (1-step) job "
        f"on a fresh worker {cold:.1f} s",
        flush=True,
    )

    # --- N jobs on K workers vs one job -------------------------------------------------
    small = _small_base(scratch / "small-base")
    k = int(torch.cuda.device_count()) if device == "cuda" else min(2, cpus)
    n = 2 * k
    small_jobs = [_job(small, examples, 10) for _ in range(n)]
    for i, j in enumerate(small_jobs):
        j.cluster_id, j.slug = i, f"bench-{i}"
    settings = _settings(
        scratch / "home-n",
        ray_num_cpus=k if device == "cpu" else cpus,
        cpus_per_job=1,
        max_retries=0,
    )
    with ray_session(settings):
        _through_ray(settings, small_jobs[:k])  # warm K workers
        one = _through_ray(settings, small_jobs[:1])
        many = _through_ray(settings, small_jobs)
        out["ray_nodes_cpus"] = ray.cluster_resources().get("CPU")
    out.update(
        n_jobs=n,
        k_workers=k,
        one_job_s=round(one, 2),
        n_jobs_s=round(many, 2),
        n_on_k=round(many / one, 3),
        n_on_k_aim=round(1.15 * math.ceil(n / k), 3),
    )
    print(
        f"   {n} jobs on {k} workers {many:.1f} s vs one job {one:.1f} s: x{out['n_on_k']} "
        f"(aim <= {out['n_on_k_aim']})",
        flush=True,
    )
    out["aims"] = {
        "lora_vs_plain": 1.5,
        "dora_vs_lora": 1.3,
        "ray_vs_inprocess": 1.10,
        "n_on_k": out["n_on_k_aim"],
    }
    out["met"] = {name: out[name] <= aim for name, aim in out["aims"].items()}
    return out
