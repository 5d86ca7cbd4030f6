"""Adapters as training left them in MLflow: fetch the folder, read its distilled context,
put it on its base model.

A trained adapter is the artifact folder `adapter/` of the cluster's train run: the PEFT
adapter files, the tokenizer, and `distilled_context.json` ({text, hash, base_model}). The
registry points at it (`runs:/<run_id>/adapter`). Downloads are cached under
$SLIMLINE_HOME/cache/adapters/<run_id>/ so evaluation, promotion and deploy-adapter fetch a
run's adapter once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from slimline.config import Settings
from slimline.prompt import CONTEXT_FILE, DistilledContext
from slimline.tracking import ADAPTER_ARTIFACT


class AdapterError(ValueError):
    """An adapter that cannot be fetched or loaded; the message names the run and the problem."""


def adapter_uri(run_id: str) -> str:
    return f"runs:/{run_id}/{ADAPTER_ARTIFACT}"


def fetch_adapter(settings: Settings, run_id: str) -> Path:
    """The local folder of a run's adapter (downloaded once)."""
    target = settings.path("cache", "adapters", run_id)
    if (target / "adapter_config.json").is_file():
        return target
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        got = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=adapter_uri(run_id), dst_path=str(tmp))
        )
    except (MlflowException, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AdapterError(f"run {run_id}: cannot fetch its adapter: {exc}") from None
    if not (got / "adapter_config.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise AdapterError(f"run {run_id}: {adapter_uri(run_id)} holds no adapter_config.json")
    shutil.rmtree(target, ignore_errors=True)
    got.replace(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_context(adapter_dir: Path) -> dict[str, Any]:
    """The adapter's distilled context ({text, hash, base_model, ...}); {} when absent."""
    path = Path(adapter_dir) / CONTEXT_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AdapterError(f"{path}: not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def load_context(adapter_dir: Path) -> DistilledContext | None:
    """The distilled context an adapter learnt, or None when its folder holds none (or an
    older file without the full context)."""
    data = read_context(adapter_dir)
    try:
        return DistilledContext.from_dict(data)
    except (TypeError, ValueError):
        return None


def base_model_of(adapter_dir: Path, default: str | None = None) -> str:
    """The base model an adapter was trained on: its distilled context, else PEFT's config."""
    source = read_context(adapter_dir).get("base_model")
    if not source:
        cfg = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
        source = default or cfg.get("base_model_name_or_path")
    if not source:
        raise AdapterError(f"{adapter_dir}: no base model recorded")
    return str(source)


def attach(model: Any, adapter_dir: Path, name: str) -> Any:
    """Put the adapter in `adapter_dir` on `model` (a base model or a PeftModel) as `name`
    and make it the active one; returns the PeftModel."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        if name not in model.peft_config:
            model.load_adapter(str(adapter_dir), adapter_name=name)
        model.set_adapter(name)
        return model
    return PeftModel.from_pretrained(model, str(adapter_dir), adapter_name=name)
