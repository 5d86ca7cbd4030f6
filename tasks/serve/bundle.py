"""A champion as a serving bundle: the PEFT adapter folder that vLLM and LoRAX load, plus a
small manifest with the base model and the distilled context; and its smoke test.

Layout: $SLIMLINE_HOME/adapters/<slug>/v<version>/
    adapter_config.json, adapter_model.safetensors   the PEFT adapter (as trained)
    tokenizer files                                  as training saved them
    distilled_context.json                           the context the adapter learnt
    merged/                                          DoRA only: base + adapter merged
    slimline-bundle.json                             the manifest (see `export_bundle`)
and $SLIMLINE_HOME/adapters/<slug>/current names the version that serves.

vLLM: `vllm serve BASE --enable-lora --lora-modules <slug>=<bundle dir>`; LoRAX: the bundle
directory as `adapter_id` with `adapter_source=local`. A router strips the distilled context
(by its hash) from requests before they reach the adapter.

vLLM, SGLang and llama.cpp load LoRA adapters, not DoRA ones: a DoRA champion's bundle also
holds the base model with the adapter merged into its weights (`merged/`, a plain
transformers model folder, PEFT `merge_and_unload`), and the manifest's `serve_form` says
which form a server should load (`adapter` or `merged`): `vllm serve <bundle>/merged
--served-model-name <slug>__v<version>`, a server the router's `openai` backend finds through
`serve.backend_models` (remote.py). The local backend loads the adapter either way (PEFT runs
DoRA itself).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from slimline import adapters
from slimline.config import Settings
from slimline.prompt import CONTEXT_FILE
from slimline.tasks.promote import registry
from slimline.tracking import BASE_MODEL_TAG, CHAMPION, CLUSTER_TAG, METRIC_TAG_PREFIX, SLUG_TAG

MANIFEST = "slimline-bundle.json"
MERGED = "merged"


class Bundle(BaseModel):
    """A bundle folder and its manifest."""

    path: Path
    manifest: dict[str, Any]


def _version(client: Any, model_name: str, version: int | str | None) -> Any:
    if version is None or str(version) in ("", CHAMPION):
        found = registry.version_by_alias(client, model_name, CHAMPION)
        if found is None:
            raise registry.RegistryError(f"model {model_name!r} has no champion to deploy")
        return found
    return client.get_model_version(model_name, str(int(version)))


def _base_local(base_model: str) -> str | None:
    """Where the base model's weights sit on this machine (converted GGUF included)."""
    from slimline.models import ModelSourceError, _converted_dir, resolve_source

    try:
        resolved = resolve_source(base_model)
    except ModelSourceError:
        return None
    if resolved.gguf_file:
        converted = _converted_dir(resolved)
        return str(converted) if (converted / "config.json").exists() else None
    return resolved.location if Path(resolved.location).exists() else None


def export_bundle(settings: Settings, model_name: str, version: int | str | None = None) -> Bundle:
    """Copy a registered version's adapter (default: the champion) into its bundle folder."""
    client = registry.client_for(settings.mlflow_tracking_uri)
    mv = _version(client, model_name, version)
    if not mv.run_id:
        raise registry.RegistryError(f"{model_name} v{mv.version} has no run to fetch from")
    source = adapters.fetch_adapter(settings, mv.run_id)
    slug = mv.tags.get(SLUG_TAG, model_name)
    target = settings.adapters_dir / slug / f"v{mv.version}"
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    context = adapters.read_context(tmp)
    base_model = mv.tags.get(BASE_MODEL_TAG) or adapters.base_model_of(tmp)
    peft_cfg = json.loads((tmp / "adapter_config.json").read_text())
    manifest = {
        "format": "peft",
        "peft_type": peft_cfg.get("peft_type"),
        "use_dora": bool(peft_cfg.get("use_dora")),
        "rank": peft_cfg.get("r"),
        "model": model_name,
        "version": int(mv.version),
        "cluster_id": mv.tags.get(CLUSTER_TAG),
        "slug": slug,
        "run_id": mv.run_id,
        "base_model": base_model,
        "base_model_local": _base_local(base_model),
        "distilled_context": {"hash": context.get("hash"), "file": CONTEXT_FILE},
        "metrics": {
            k[len(METRIC_TAG_PREFIX) :]: float(v)
            for k, v in mv.tags.items()
            if k.startswith(METRIC_TAG_PREFIX)
        },
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    manifest["serve_form"] = "adapter"
    if manifest["use_dora"] and settings.serve.merge_dora:
        merge_adapter(tmp, base_model, tmp / MERGED)
        manifest["serve_form"], manifest["merged_dir"] = "merged", MERGED
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return Bundle(path=target, manifest=manifest)


def merge_adapter(adapter_dir: Path, base_model: str, out: Path) -> Path:
    """Save `base_model` with the adapter in `adapter_dir` merged into its weights to `out`
    (a plain transformers folder with the tokenizer): how servers that load only LoRA
    adapters serve a DoRA one."""
    from peft import PeftModel

    from slimline.models import load_model

    model, tokenizer = load_model(base_model)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def smoke_test(bundle: Bundle, max_new_tokens: int = 24) -> dict[str, Any]:
    """One greedy generation through the bundle's adapter on its base model; raises when
    the adapter does not load or generates nothing."""
    from slimline.decoding import generate
    from slimline.models import load_model

    model, tokenizer = load_model(bundle.manifest["base_model"])
    model = adapters.attach(model, bundle.path, "bundle")
    prompt = [{"role": "user", "content": "Hello, can you help me with my request?"}]
    gen = generate(model, tokenizer, [prompt], max_new_tokens=max_new_tokens, batch_size=1)
    if gen.new_tokens[0] == 0:
        raise RuntimeError(f"smoke test of {bundle.path}: the adapter generated no tokens")
    result = {
        "new_tokens": gen.new_tokens[0],
        "seconds": round(gen.seconds, 3),
        "output": gen.texts[0],
    }
    bundle.manifest["smoke_test"] = {k: v for k, v in result.items() if k != "output"}
    (bundle.path / MANIFEST).write_text(json.dumps(bundle.manifest, indent=1))
    (bundle.path.parent / "current").write_text(f"v{bundle.manifest['version']}\n")
    return result
