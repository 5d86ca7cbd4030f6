"""One adapter trained in process with TRL + PEFT on a tiny random Llama: it learns, it
changes, it is written whole, it loads back and generates; DoRA gives DoRA weights."""

from __future__ import annotations

import json

import pytest
from testkit.tiny_train import toy_examples

from slimline.tasks.train.config import TrainConfig
from slimline.tasks.train.train import TrainJob, train_adapter


def _job(base: str, method: str, steps: int) -> TrainJob:
    cfg = TrainConfig(
        method=method,
        max_steps=steps,
        batch_size=2,
        grad_accum=1,
        learning_rate=1e-2,
        max_seq_len=128,
        system_metrics_interval_s=1.0,
    )
    context = {"text": "You book flights.", "hash": "h1", "system_prompt": "", "tools": []}
    examples = toy_examples(8)
    return TrainJob(1, "toy", base, examples, cfg.model_dump(), context, examples[:2])


@pytest.mark.slow
def test_lora_loss_falls_weights_change_and_adapter_loads_back(tiny_base, tmp_path):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from slimline.models import load_tokenizer

    out = tmp_path / "adapter"
    result = train_adapter(_job(tiny_base, "lora", 6), out, bar=False)

    losses = [s["loss"] for s in result.steps]
    assert len(losses) == 6 and [s["step"] for s in result.steps] == list(range(1, 7))
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.2, losses  # it learnt
    assert result.eval_loss < result.eval_loss_before  # held out, and still better than base
    assert result.device == "cpu" and result.precision == "fp32"
    assert (
        result.system_metrics and "cpu_utilization_percentage" in result.system_metrics[0]["values"]
    )

    names = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= names
    context = json.loads((out / "distilled_context.json").read_text())
    assert context["hash"] == "h1" and context["base_model"] == tiny_base

    weights = load_file(out / "adapter_model.safetensors")
    lora_b = [w for k, w in weights.items() if "lora_B" in k]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b)  # B starts at zero: it moved
    assert not any("lora_magnitude_vector" in k for k in weights)

    base = AutoModelForCausalLM.from_pretrained(tiny_base)
    model = PeftModel.from_pretrained(base, str(out))
    tok = load_tokenizer(str(out))
    ids = tok.apply_chat_template(
        toy_examples(1)[0]["prompt"],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        gen = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert gen.shape[1] > ids["input_ids"].shape[1]


@pytest.mark.slow
def test_dora_produces_dora_weights(tiny_base, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "dora"
    result = train_adapter(_job(tiny_base, "dora", 2), out, bar=False)
    assert len(result.steps) == 2
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["use_dora"] is True and config["r"] == 16
    keys = load_file(out / "adapter_model.safetensors").keys()
    assert any("lora_magnitude_vector" in k for k in keys)


def test_empty_cluster_is_refused(tiny_base, tmp_path):
    job = _job(tiny_base, "lora", 1)
    job.examples = []
    with pytest.raises(ValueError, match="cluster 1 \\(toy\\): no training examples"):
        train_adapter(job, tmp_path / "none")


def test_dropout_auto_is_off_for_dora_and_an_explicit_value_wins():
    from slimline.tasks.train.config import TrainConfig
    from slimline.tasks.train.train import lora_config

    assert lora_config(TrainConfig(method="lora")).lora_dropout == 0.05
    dora = lora_config(TrainConfig(method="dora"))
    assert dora.use_dora and dora.lora_dropout == 0.0
    assert lora_config(TrainConfig(method="dora", dropout=0.1)).lora_dropout == 0.1
