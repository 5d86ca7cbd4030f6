"""The champions the router serves: one per cluster, read from the MLflow registry.

A `Champion` is what routing needs of a registered version aliased `champion`: its cluster,
the adapter folder (fetched once, slimline/adapters.py), the base model, the distilled
context it learnt (with the keyed hashes of the raw contexts it stands for), the calibrated
threshold and the confidence signal it was calibrated with, whether it is a DoRA adapter
(which vLLM serves only merged into its base, as a model of its own) and the server
`serve.backend_models` names for it, if any. `read_champions` returns them
with the reason of every cluster whose champion cannot serve (no threshold, missing files,
no distilled context): those clusters go upstream.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimline import adapters
from slimline.config import Settings
from slimline.decoding import DEFAULT_SIGNAL
from slimline.prompt import DistilledContext, context_key, system_prompt_of
from slimline.record import CallRecord
from slimline.tasks.promote import registry
from slimline.tasks.serve.bundle import MERGED
from slimline.tracking import (
    BASE_MODEL_TAG,
    CHAMPION,
    CLUSTER_TAG,
    SIGNAL_TAG,
    SLUG_TAG,
    THRESHOLD_TAG,
)

log = logging.getLogger("slimline.serve")


@dataclass
class Champion:
    """A cluster's serving version and what the router needs of it."""

    model: str  # the registered model (the cluster's slug)
    version: int
    cluster_id: int
    base_model: str
    adapter_dir: Path
    context: DistilledContext
    threshold: float
    signal: str = DEFAULT_SIGNAL
    raw_keys: frozenset[str] = field(default_factory=frozenset)
    run_id: str | None = None  # its train run: where live (shadow) figures are logged
    dora: bool = False  # a DoRA adapter: servers that load only LoRA serve it merged
    server_url: str | None = None  # DoRA: the server serve.backend_models names for it
    merged_dir: Path | None = None  # DoRA: where deploy-adapter writes it merged (bundle.py)

    @property
    def name(self) -> str:
        """Who answered, as the response header and the records say: `<model>@v<version>`."""
        return f"{self.model}@v{self.version}"

    @property
    def adapter(self) -> str:
        """The adapter's name on its base model (unique per version); a DoRA champion served
        merged by a server of its own is served under this name too."""
        return f"{self.model}__v{self.version}".replace(".", "_")

    @property
    def serve_form(self) -> str:
        """What an OpenAI-compatible server must load: `adapter`, or `merged` (the base with
        the adapter merged, as the bundle's manifest says of a DoRA champion)."""
        return "merged" if self.dora else "adapter"

    def matches_context(self, system_prompt: str, tools: list[dict[str, Any]], secret: str) -> bool:
        """Whether a live (raw) system prompt and tools are the context this champion learnt:
        their keyed hash is one the context stands for, or they are its own."""
        if self.raw_keys and context_key(secret, system_prompt, tools) in self.raw_keys:
            return True
        return system_prompt == self.context.system_prompt and tools == self.context.tools

    def matches(self, record: CallRecord, secret: str) -> bool:
        """`matches_context` of a request, or (adapters without raw keys) a context that
        renders to the same text."""
        if self.matches_context(system_prompt_of(record), record.tools, secret):
            return True
        return self.context.matches(record)


def champion_from_version(settings: Settings, mv: Any) -> Champion:
    """A registered version as a Champion; raises ValueError saying why it cannot serve."""
    tags = mv.tags or {}
    if tags.get(CLUSTER_TAG) is None:
        raise ValueError("no cluster id tag")
    if not tags.get(THRESHOLD_TAG):
        raise ValueError("no calibrated threshold: it serves nothing")
    if not mv.run_id:
        raise ValueError("no train run to fetch its adapter from")
    folder = adapters.fetch_adapter(settings, mv.run_id)
    context = adapters.load_context(folder)
    if context is None:
        raise ValueError(f"{folder} holds no distilled context")
    peft_config = folder / "adapter_config.json"
    dora = peft_config.exists() and bool(json.loads(peft_config.read_text()).get("use_dora"))
    slug = tags.get(SLUG_TAG) or mv.name
    champion = Champion(
        model=mv.name,
        version=int(mv.version),
        cluster_id=int(tags[CLUSTER_TAG]),
        base_model=tags.get(BASE_MODEL_TAG) or adapters.base_model_of(folder),
        adapter_dir=folder,
        context=context,
        threshold=float(tags[THRESHOLD_TAG]),
        signal=tags.get(SIGNAL_TAG) or DEFAULT_SIGNAL,
        raw_keys=frozenset(context.raw_keys),
        run_id=mv.run_id,
        dora=dora,
        merged_dir=settings.adapters_dir / slug / f"v{mv.version}" / MERGED if dora else None,
    )
    servers = settings.serve.backend_models  # by its exact version first, then its slug
    champion.server_url = servers.get(champion.adapter) or servers.get(champion.model)
    return champion


def read_champions(settings: Settings) -> tuple[dict[int, Champion], dict[str, str]]:
    """({cluster id: champion}, {model: why its champion cannot serve}) from the registry."""
    from mlflow.exceptions import MlflowException

    client = registry.client_for(settings.mlflow_tracking_uri)
    found: dict[int, Champion] = {}
    broken: dict[str, str] = {}
    for model in client.search_registered_models():
        if CLUSTER_TAG not in (model.tags or {}) or CHAMPION not in (model.aliases or {}):
            continue
        try:
            mv = client.get_model_version_by_alias(model.name, CHAMPION)
            champion = champion_from_version(settings, mv)
        except (ValueError, OSError, MlflowException) as exc:
            broken[model.name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("%s: its champion is not served: %s", model.name, broken[model.name])
            continue
        found[champion.cluster_id] = champion
    return found, broken
