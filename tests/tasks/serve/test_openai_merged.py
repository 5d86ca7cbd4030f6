"""`serve.backend: openai` with a DoRA champion: vLLM does not load DoRA adapters, so the
champion is served merged into its base, as a model of its own, by the server that
`serve.backend_models` names for it (here two fake servers speaking vLLM's side of the
protocol: one hosting the LoRA adapters, one serving the merged model under
`<slug>__v<version>`)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from testkit.openai_servers import fake_vllm, serving
from testkit.router_world import body_of, only_tool, promote, running_router

pytestmark = pytest.mark.slow


def build_dora_adapter(base_dir: str, folder: Path, seed: int, context: dict) -> Path:
    """A real PEFT DoRA adapter on the tiny base, saved as training saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], use_dora=True,
                     init_lora_weights=False, task_type="CAUSAL_LM")  # fmt: skip
    get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir), cfg).save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(folder)
    (folder / "distilled_context.json").write_text(json.dumps({**context, "base_model": base_dir}))
    return folder


def test_a_dora_champion_is_served_merged_by_the_server_named_for_it(served, upstream):
    from slimline.prompt import DistilledContext
    from slimline.tasks.promote.stage import rollback_cluster

    world = served
    settings, cfg = world.settings, world.settings.serve
    slug, cid = world.models["tau2-airline"], world.clusters["tau2-airline"]
    context = DistilledContext.load(world.adapters["tau2-airline"]).to_dict()
    folder = build_dora_adapter(world.tiny_base, world.adapters["tau2-airline"].parent /
                                "airline-dora", 7, context)  # fmt: skip
    version = promote(settings, cid, slug, folder, world.tiny_base, 0.0)
    merged_name = f"{slug}__v{version}".replace(".", "_")
    airline = body_of(world.raw["tau2-airline"][-1], **only_tool("list_all_airports"))
    retail = body_of(world.raw["tau2-retail"][-1], **only_tool("list_all_product_types"))
    retail_slug = world.models["tau2-retail"]
    adapters_app = fake_vllm(["base"])
    merged_app = fake_vllm([f"{slug}__v{version - 1}", merged_name])
    try:
        with serving(adapters_app) as adapters_url, serving(merged_app) as merged_url:
            cfg.backend, cfg.backend_url = "openai", f"{adapters_url}/v1"
            lora = {retail_slug: f"{merged_url}/v1"}  # retail's champion is LoRA: ignored
            cfg.backend_models = lora
            with running_router(world, upstream[1], record_decisions=False) as (router, url):
                # no server named for it: disabled, saying why; its calls go upstream
                state = httpx.get(f"{url}/slimline/router").json()
                unnamed = httpx.post(f"{url}/v1/chat/completions", json=airline, timeout=120)
                # a server named that does not serve this version: disabled too
                cfg.backend_models = {**lora, slug: f"{adapters_url}/v1"}
                wrong = httpx.post(f"{url}/slimline/champions/reload", timeout=120).json()
                # the server serving it merged under <slug>__v<version>
                cfg.backend_models = {**lora, merged_name: f"{merged_url}/v1"}
                right = httpx.post(f"{url}/slimline/champions/reload", timeout=120).json()
                r = httpx.post(f"{url}/v1/chat/completions", json=airline, timeout=120)
                unsure = httpx.post(f"{url}/v1/chat/completions", json=retail, timeout=120)
                retail_adapter = router.champions[world.clusters["tau2-retail"]].adapter
    finally:
        cfg.backend, cfg.backend_url, cfg.backend_models = "local", None, {}
        rollback_cluster(settings, slug, emit=False)

    why = state["disabled"][str(cid)]
    assert str(cid) not in state["champions"]
    assert "DoRA" in why and "serve.backend_models" in why and merged_name in why
    assert unnamed.headers["x-slimline-served-by"] == "upstream"
    assert "does not serve " + merged_name in wrong["disabled"][str(cid)]
    assert right["champions"][str(cid)] == f"{slug}@v{version}" and not right["disabled"]
    # the merged model answers, with the adapters' protocol: greedy, logprobs, the grammar
    assert r.status_code == 200 and r.headers["x-slimline-served-by"] == f"slm:{slug}@v{version}"
    call = r.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "list_all_airports"
    (asked,) = merged_app.state.asked
    assert asked["model"] == merged_name and asked["temperature"] == 0 and asked["logprobs"]
    assert "list_all_airports" in asked["structured_outputs"]["grammar"]
    assert all(m["role"] != "system" for m in asked["messages"])
    # nothing asked to load the DoRA adapter; the LoRA champion stays on the adapters' server
    # (serve.backend_models is for DoRA champions: retail's entry changes nothing)
    loaded = {x["lora_name"] for x in adapters_app.state.loaded}
    assert merged_name not in loaded and retail_adapter in loaded
    assert merged_app.state.loaded == []
    assert [b["model"] for b in adapters_app.state.asked] == [retail_adapter]
    assert unsure.headers["x-slimline-served-by"] == "upstream"  # 0.99 < retail's 0.999
