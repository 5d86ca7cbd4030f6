"""The router tests' world, built once per session: real tau2 calls of three agents clustered by
the real cluster stage (a saved BERTopic model), a tiny random Llama with real PEFT adapters
registered in MLflow and promoted as champions of two of the clusters, and a fake upstream
LLM speaking the OpenAI protocol (testkit/openai_servers.py).

- airline: champion v1 with threshold 0.0 (anything servable is served: the tiny model's
  confidence decides nothing), its distilled context made from calls whose system prompt
  scrub changed (a name rewritten), with the keyed hash of the RAW context;
- retail: champion with threshold 0.999 (the tiny model is never that sure);
- telecom: clustered, no champion.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testkit.tiny_adapters import GOOD, SERVES, build_adapter, log_train_run

RAW_NAME = "Alice Whitfield"  # in the live system prompt; scrub writes SCRUBBED_NAME
SCRUBBED_NAME = "Mara Lindqvist"
AGENTS = ("tau2-airline", "tau2-retail", "tau2-telecom")


@dataclass
class World:
    settings: Any
    secret: str
    raw: dict[str, list]  # agent -> live (raw) records
    clusters: dict[str, int]  # agent -> cluster id
    models: dict[str, str]  # agent -> registered model (slug)
    adapters: dict[str, Path]
    tiny_base: str


def with_name(record, old: str, new: str):
    """The record with its system prompt's `old` written as `new`."""
    data = record.model_dump(mode="json")
    system = data["messages"][0]
    assert system["role"] == "system"
    system["content"] = system["content"].replace(old, new)
    return type(record).model_validate(data)


def raw_record(record):
    """A live call: the agent's system prompt names the operator (scrub would rewrite it)."""
    data = record.model_dump(mode="json")
    data["messages"][0]["content"] = (
        f"Operator on duty: {RAW_NAME}.\n" + data["messages"][0]["content"]
    )
    return type(record).model_validate(data)


def promote(settings, cluster_id, slug, adapter_dir, base, threshold):
    from slimline.tasks.evaluate.result import EvalReport, EvaluateResult
    from slimline.tasks.promote.stage import run_promote

    run_id = log_train_run(settings, adapter_dir, cluster_id, slug, base=base)
    report = EvalReport(
        cluster_id=cluster_id,
        slug=slug,
        run_id=run_id,
        adapter_uri=f"runs:/{run_id}/adapter",
        base_model=base,
        n_examples=30,
        metrics={"challenger": GOOD},
        threshold=threshold,
        cascade={"challenger": SERVES},
    )
    promotion = run_promote(settings, EvaluateResult(clusters=[report])).promotions[0]
    assert promotion.promoted, promotion.reasons
    return promotion.version


@pytest.fixture(scope="session")
def world(tmp_path_factory, tau2_path, tiny_base, _mlflow_template) -> World:
    from slimline.config import load_settings
    from slimline.prompt import (
        CONTEXT_KEY_FIELD,
        CONTEXT_SECRET,
        distilled_context,
        record_context_key,
    )
    from slimline.runtime import configure
    from slimline.store import RawStore, WorkStore
    from slimline.tasks.cluster.stage import run_cluster
    from testkit.tiny_train import tau2_records

    root = tmp_path_factory.mktemp("router-world")
    settings = load_settings(home=root / "home")
    configure(settings)
    settings.promote.emit_events = False
    shutil.copy(_mlflow_template, settings.path("mlflow.db"))
    secret = RawStore(settings.raw_store_url).secret(CONTEXT_SECRET)

    sizes = {"tau2-telecom": 8}  # fewer telecom conversations make no cluster of their own
    raw = {a: [raw_record(r) for r in tau2_records(tau2_path, a, sizes.get(a, 4))] for a in AGENTS}
    # what scrub leaves in the work store: the operator's name replaced by a surrogate
    scrubbed = {a: [with_name(r, RAW_NAME, SCRUBBED_NAME) for r in rs] for a, rs in raw.items()}
    raw_by_id = {r.id: r for rs in raw.values() for r in rs}
    work = WorkStore(settings.work_store_url)
    rows = []
    for r in (r for agent in AGENTS for r in scrubbed[agent]):  # scrub stamps the raw key
        key = record_context_key(secret, raw_by_id[r.id])
        stamped = {**r.metadata, CONTEXT_KEY_FIELD: key}
        rows.append((len(rows) + 1, r.model_copy(update={"metadata": stamped})))
    work.add_scrubbed(rows)
    result = run_cluster(settings, work, track=False)
    clusters, slugs = {}, {}
    for info in result.clusters:
        agent = next(a for a in AGENTS if info.slug.startswith(a + "-"))
        clusters[agent], slugs[agent] = info.cluster_id, info.slug
    assert set(AGENTS) <= set(clusters), [(i.slug, i.stats.get("calls")) for i in result.clusters]

    adapters, models = {}, {}
    for agent, seed, threshold in (("tau2-airline", 1, 0.0), ("tau2-retail", 2, 0.999)):
        context = distilled_context(work.cluster_calls(clusters[agent]))
        assert SCRUBBED_NAME in context.system_prompt and context.raw_keys
        folder = build_adapter(tiny_base, root / agent, seed, context.to_dict())
        promote(settings, clusters[agent], slugs[agent], folder, tiny_base, threshold)
        adapters[agent], models[agent] = folder, slugs[agent]
    work.close()
    return World(settings, secret, raw, clusters, models, adapters, tiny_base)


@pytest.fixture
def served(world):
    """The world's settings wired again (other tests rewire MLflow and Prefect)."""
    from slimline.runtime import configure

    configure(world.settings)
    return world


def body_of(record, **extra: Any) -> dict[str, Any]:
    """A chat-completions request body carrying `record`'s messages and tools."""
    return {
        "model": "gpt-4.1-mini",
        "messages": [m.model_dump(mode="json", exclude_none=True) for m in record.messages],
        "tools": record.tools,
        **extra,
    }


def only_tool(name: str) -> dict[str, Any]:
    """tool_choice naming one function, one call: the tiny model's answer is then a valid
    call by construction (the grammar leaves it no other), whatever its weights."""
    return {"tool_choice": {"type": "function", "function": {"name": name}},
            "parallel_tool_calls": False}  # fmt: skip


WEATHER = {
    "model": "gpt-4.1-mini",
    "messages": [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
}  # fmt: skip


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[Any, str]]:
    """The fake LLM (its app, to see what reached it) and its OpenAI base URL."""
    from testkit.openai_servers import fake_upstream, serving

    app = fake_upstream()
    with serving(app) as url:
        yield app, url + "/v1"


@contextmanager
def running_router(world: World, upstream_url: str, **kwargs: Any) -> Iterator[tuple[Any, str]]:
    """`slimline serve` as the CLI starts it (the proxy's app with the router on), on
    127.0.0.1; yields the router and its base URL; stops both."""
    from slimline.tasks.collect.proxy import create_app
    from slimline.tasks.serve.stage import build_router
    from testkit.openai_servers import serving

    s = world.settings
    router = build_router(s, world.secret, **kwargs)
    app = create_app(upstream_url, s.raw_store_url, s.collect, router)
    try:
        with serving(app) as url:
            yield router, url
    finally:
        router.backend.stop()
