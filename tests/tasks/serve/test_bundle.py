"""A DoRA champion for servers that load only LoRA adapters: the base with the adapter merged
into its weights answers as the base with the adapter attached does (real PEFT, tiny Llama)."""

from __future__ import annotations


def test_a_merged_dora_adapter_gives_the_adapters_logits(tiny_base, tmp_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from slimline.tasks.serve.bundle import merge_adapter

    torch.manual_seed(3)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        use_dora=True,
        init_lora_weights=False,  # random weights: the adapter changes the output
        task_type="CAUSAL_LM",
    )
    adapter_dir = tmp_path / "dora"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base), config).save_pretrained(
        adapter_dir
    )

    merged_dir = merge_adapter(adapter_dir, tiny_base, tmp_path / "merged")

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    ids = tokenizer("Look up the line of customer 0803 555 7712", return_tensors="pt").input_ids
    base = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    attached = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base),
                                         str(adapter_dir)).eval()  # fmt: skip
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    with torch.inference_mode():
        want = attached(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        plain = base(input_ids=ids).logits
    assert not torch.allclose(want, plain, atol=1e-4)  # the adapter does change the answer
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
