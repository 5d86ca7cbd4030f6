"""The catalog of candidate small models, and the choice of one (or a race) for a cluster.

The catalog (catalog.yaml beside this module, extended by `select.catalog` in the config)
lists candidate models with their size, context window, licence and how they call tools.
`select_model` takes the smallest candidate that meets a cluster's constraints:
- available here: its package installed (`requires`), or for a hub id, a hub reachable or
  the model in the local hub cache;
- `select.only` (when set) names it;
- its licence is on the `select.licences` allow-list (when set);
- it fits the memory budget `select.max_params_m` (when set);
- its context window holds the context the cluster needs after compaction (the training
  window `train.max_seq_len`: compaction trims every example to it).
With `select.race_top_k` > 1 the k smallest that qualify are returned for a race (the train
stage trains each briefly and keeps the best on the held-out split). Every choice comes with
reasons in words: why this one, and why each other candidate was not taken.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CATALOG_FILE = "catalog.yaml"


class SelectionError(ValueError):
    """No candidate meets a cluster's constraints; the message gives every candidate's reason."""


class CatalogEntry(BaseModel):
    """One candidate model (fields documented in catalog.yaml)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str = Field(description="hub id, local directory, or pkg:PACKAGE/FILE.gguf")
    params_m: float = Field(gt=0, description="parameters, in millions")
    context_window: int = Field(gt=0, description="tokens the model attends to")
    licence: str
    tool_calling: Literal["native", "slimline-format"] = "slimline-format"
    requires: str | None = Field(default=None, description="Python package the source needs")
    chat_template: str | None = Field(
        default=None, description="Jinja chat template used when the tokenizer has none"
    )
    chat_template_notes: str = ""

    def unavailable(self) -> str | None:
        """Why the model cannot be loaded here, or None when it can."""
        if self.requires and importlib.util.find_spec(self.requires) is None:
            return f"package {self.requires!r} is not installed"
        if self.source.startswith("pkg:"):
            package = self.source[4:].partition("/")[0]
            if importlib.util.find_spec(package) is None:
                return f"package {package!r} is not installed"
            return None
        if self.source.startswith(("/", "./", "../", "~")) or os.path.isdir(self.source):
            return None if os.path.isdir(os.path.expanduser(self.source)) else "no such directory"
        if _hub_offline() and not _in_hub_cache(self.source):
            return "a hub id, and the hub is off (HF_HUB_OFFLINE) with no cached copy"
        return None


def _hub_offline() -> bool:
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _entries(raw: Any, where: str) -> list[CatalogEntry]:
    if not isinstance(raw, list):
        raise ValueError(f"{where}: the catalog must be a list of entries")
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(CatalogEntry.model_validate(item))
        except ValidationError as exc:
            from slimline.record import describe_errors

            name = item.get("id", f"#{i}") if isinstance(item, dict) else f"#{i}"
            raise ValueError(f"{where}, entry {name}: " + "; ".join(describe_errors(exc))) from None
    return out


def shipped_catalog() -> list[CatalogEntry]:
    """The catalog shipped with the package."""
    text = resources.files(__package__).joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return _entries(yaml.safe_load(text), CATALOG_FILE)


def load_catalog(extra: list[dict[str, Any]] | None = None) -> list[CatalogEntry]:
    """The shipped catalog plus `extra` entries (an extra entry replaces a shipped one by id)."""
    by_id = {e.id: e for e in shipped_catalog()}
    for entry in _entries(extra or [], "select.catalog"):
        by_id[entry.id] = entry
    return list(by_id.values())


@dataclass
class Selection:
    """The model chosen for a cluster, the race candidates, and the reasons."""

    entry: CatalogEntry
    candidates: list[CatalogEntry]  # the race: `entry` first, then the next smallest
    reasons: list[str]  # why `entry`
    rejected: dict[str, str] = field(default_factory=dict)  # id -> why not

    @property
    def source(self) -> str:
        return self.entry.source

    def to_dict(self) -> dict[str, Any]:
        """Plain data for logs and MLflow."""
        return {
            "model": self.entry.id,
            "source": self.entry.source,
            "candidates": [c.id for c in self.candidates],
            "reasons": self.reasons,
            "rejected": self.rejected,
        }


def _select_config(settings: Any) -> Any:
    return getattr(settings, "select", settings)


def _rejection(entry: CatalogEntry, needed_context: int, cfg: Any) -> str | None:
    if cfg.only is not None and entry.id not in cfg.only:
        return f"not in select.only ({', '.join(cfg.only)})"
    if cfg.licences is not None and entry.licence.lower() not in {x.lower() for x in cfg.licences}:
        return f"licence {entry.licence} is not in the allow-list ({', '.join(cfg.licences)})"
    if cfg.max_params_m is not None and entry.params_m > cfg.max_params_m:
        return f"{entry.params_m:g}M parameters exceed the memory budget of {cfg.max_params_m:g}M"
    if entry.context_window < needed_context:
        return (
            f"context window of {entry.context_window} tokens is shorter than the "
            f"{needed_context} the cluster needs after compaction"
        )
    missing = entry.unavailable()
    return f"not available: {missing}" if missing else None


def _describe_cluster(stats: dict[str, Any]) -> str:
    parts = []
    if "cluster_id" in stats:
        parts.append(f"cluster {stats['cluster_id']}")
    if "label" in stats:
        parts.append(repr(stats["label"]))
    if "calls" in stats:
        parts.append(f"{stats['calls']} calls")
    if "tool_call_share" in stats:
        parts.append(f"{float(stats['tool_call_share']):.0%} tool calls")
    return ", ".join(parts) or "the cluster"


def select_model(cluster_stats: dict[str, Any], needed_context: int, settings: Any) -> Selection:
    """The smallest catalog model meeting the cluster's constraints (see the module doc).

    `settings` is the Settings (or its SelectConfig); `needed_context` the tokens an example
    takes after compaction (the training window). Raises SelectionError when none qualifies.
    """
    cfg = _select_config(settings)
    catalog = sorted(load_catalog(cfg.catalog), key=lambda e: (e.params_m, e.id))
    rejected: dict[str, str] = {}
    eligible: list[CatalogEntry] = []
    for entry in catalog:
        why = _rejection(entry, needed_context, cfg)
        if why is None:
            eligible.append(entry)
        else:
            rejected[entry.id] = why
    cluster = _describe_cluster(cluster_stats)
    if not eligible:
        detail = "; ".join(f"{k}: {v}" for k, v in rejected.items()) or "the catalog is empty"
        raise SelectionError(f"no candidate model fits {cluster}: {detail}")
    chosen = eligible[0]
    candidates = eligible[: max(1, cfg.race_top_k)]
    for entry in eligible[len(candidates) :]:
        rejected[entry.id] = f"qualifies, but larger ({entry.params_m:g}M) than {chosen.id}"
    tools = (
        "its chat template renders tools natively"
        if chosen.tool_calling == "native"
        else "tools and tool calls in slimline's text format"
    )
    reasons = [
        f"{chosen.id} for {cluster}: the smallest qualifying candidate "
        f"({chosen.params_m:g}M parameters, {len(eligible)} of {len(catalog)} qualify)",
        f"context window {chosen.context_window} >= {needed_context} tokens needed after "
        "compaction",
        f"licence {chosen.licence}"
        + (" is allowed" if cfg.licences is not None else " (no allow-list set)"),
        f"{tools}",
    ]
    if len(candidates) > 1:
        reasons.append("raced against " + ", ".join(c.id for c in candidates[1:]))
    return Selection(entry=chosen, candidates=candidates, reasons=reasons, rejected=rejected)


def prepare_tokenizer(tokenizer: Any, entry: CatalogEntry) -> Any:
    """Give `tokenizer` the entry's chat template when it has none (base models)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer
    if not entry.chat_template:
        raise SelectionError(
            f"{entry.id}: its tokenizer has no chat template and the catalog entry gives none"
        )
    tokenizer.chat_template = entry.chat_template
    return tokenizer


def entry_for_source(source: str, settings: Any) -> CatalogEntry | None:
    """The catalog entry whose source is `source` (e.g. a pinned `train.base_model`)."""
    cfg = _select_config(settings)
    return next((e for e in load_catalog(cfg.catalog) if e.source == source), None)
