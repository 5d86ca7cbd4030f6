"""Serve's operations.

- `run_deploy`: export a registered version (default: the champion) as a serving bundle
  under $SLIMLINE_HOME/adapters/<slug>/v<version>/ (bundle.py) and smoke-test it;
- `build_router`: the router `slimline serve` runs (router.py), with its backend (local.py,
  or remote.py for `serve.backend: openai`), the saved cluster model and the work store's
  decision log;
- `run_replay`: logged calls through that router's decision path, offline (replay.py);
- `reload_router`: tell a running router to serve the registry's champions now.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from slimline.config import Settings
from slimline.tasks.serve.bundle import export_bundle, smoke_test
from slimline.tasks.serve.result import DeployResult

log = logging.getLogger("slimline.serve")


def run_deploy(settings: Settings, model_name: str, version: int | None = None) -> DeployResult:
    """Bundle `model_name` version `version` (None: its champion) and generate once with it."""
    bundle = export_bundle(settings, model_name, version)
    smoke = smoke_test(bundle, settings.serve.smoke_max_new_tokens)
    return DeployResult(path=str(bundle.path), manifest=bundle.manifest, smoke_test=smoke)


def build_router(
    settings: Settings, secret: str, work: Any = None, record_decisions: bool = True
) -> Any:
    """The router over the registry's champions (loaded when it starts, or by `refresh()`).
    `secret` is the raw store's context-key secret (prompt.CONTEXT_SECRET)."""
    from slimline.store import open_work
    from slimline.tasks.serve.assign import ClusterAssigner
    from slimline.tasks.serve.decisions import DecisionLog
    from slimline.tasks.serve.local import LocalBackend
    from slimline.tasks.serve.router import Router

    work = work or open_work(settings)
    cfg = settings.serve
    if cfg.backend == "openai":
        from slimline.tasks.serve.remote import OpenAIBackend

        if not cfg.backend_url:
            raise ValueError("serve.backend is openai: set serve.backend_url")
        backend: Any = OpenAIBackend(cfg.backend_url, cfg.backend_api_key_env, cfg.backend_grammar)
    else:
        backend = LocalBackend(cfg.max_batch, cfg.batch_wait_ms)
    assigner = ClusterAssigner.from_store(settings, work)
    traces = None
    if record_decisions and cfg.traces:
        from slimline.tasks.serve.traces import TraceLog
        from slimline.tracking import mlflow_experiment

        traces = TraceLog(settings.mlflow_tracking_uri, mlflow_experiment(settings))
    decisions = DecisionLog(work, traces=traces) if record_decisions else None
    return Router(settings, backend, assigner, secret, decisions)


def run_replay(settings: Settings, source: Path, secret: str, progress: Any = None) -> dict:
    """Replay the calls logged in `source` through the router's decisions (see replay.py)."""
    from slimline.tasks.serve.replay import read_calls, replay

    router = build_router(settings, secret, record_decisions=False)
    router.refresh()
    try:
        result = replay(router, list(read_calls(Path(source))), progress)
    finally:
        router.backend.stop()
        router.pool.shutdown(wait=False)
    result["champions"] = router.serving()["champions"]
    return result


def router_url(settings: Settings) -> str:
    return (settings.serve.router_url or f"http://127.0.0.1:{settings.serve.port}").rstrip("/")


def reload_router(settings: Settings, timeout: float = 600.0) -> dict[str, Any]:
    """Ask the running router to serve the registry's champions now; {"reloaded": False,
    "reason": ...} when no router answers (one started later serves them anyway)."""
    url = f"{router_url(settings)}/slimline/champions/reload"
    request = urllib.request.Request(url, data=b"{}", method="POST")
    request.add_header("content-type", "application/json")
    token = settings.serve.reload_token()
    if token:
        request.add_header("authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxies
    try:
        with opener.open(request, timeout=timeout) as response:
            return {"reloaded": True, "url": url, **json.loads(response.read())}
    except (OSError, urllib.error.URLError, ValueError) as exc:
        log.info("no router reloaded at %s (%s)", url, exc)
        return {"reloaded": False, "url": url, "reason": str(exc)}
