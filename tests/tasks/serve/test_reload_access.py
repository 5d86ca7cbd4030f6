"""Who may call `POST /slimline/champions/reload`: loopback by default; the addresses,
networks and host names of `serve.reload_allow` otherwise (the deploy-adapter flow calls it
from another container when the router runs as a compose service). The client's address is
set in the ASGI scope, as a server sets it from the connection."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI, Request


@pytest.fixture
def router(tmp_path):
    from slimline.config import load_settings
    from slimline.tasks.serve.router import Router

    router = Router(load_settings(home=tmp_path / "home"), None, None, "secret")
    router.reloads = 0

    def refresh():  # what a reload does, without a registry
        router.reloads += 1
        return {"champions": {}, "disabled": {}, "broken": {}, "shadow": {}}

    router.refresh = refresh
    yield router
    router.pool.shutdown(wait=False)


def reload_from(router, host: str, token: str | None = None) -> httpx.Response:
    app = FastAPI()
    router.install(app)
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
            return await client.post("/slimline/champions/reload", json={}, headers=headers)

    return asyncio.run(call())


def test_by_default_only_loopback_callers_reload(router):
    assert router.settings.serve.reload_allow == ["127.0.0.1", "::1"]
    for host in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert reload_from(router, host).status_code == 200, host
    for host in ("172.18.0.5", "10.0.0.7", "testclient", ""):
        r = reload_from(router, host)
        assert r.status_code == 403, host
        assert r.json()["error"]["type"] == "forbidden"
        assert "serve.reload_allow" in r.json()["error"]["message"]
    assert router.reloads == 3  # a refused caller reloads nothing


def test_reload_allow_admits_its_networks_and_host_names_only(router):
    router.settings.serve.reload_allow = ["10.1.0.0/16", "192.168.7.9", "localhost"]
    assert reload_from(router, "10.1.2.3").status_code == 200
    assert reload_from(router, "::ffff:10.1.200.1").status_code == 200
    assert reload_from(router, "192.168.7.9").status_code == 200
    assert reload_from(router, "127.0.0.1").status_code == 200  # `localhost`, resolved
    assert reload_from(router, "10.2.0.1").status_code == 403
    assert reload_from(router, "192.168.7.10").status_code == 403
    assert router.reloads == 4
    router.settings.serve.reload_allow = ["10.1.0.0/16"]  # the list replaces loopback
    assert reload_from(router, "127.0.0.1").status_code == 403


def test_reload_allow_comes_from_the_environment_as_compose_sets_it(tmp_path, monkeypatch):
    from slimline.config import load_settings

    monkeypatch.setenv("SLIMLINE_SERVE__RELOAD_ALLOW", '["127.0.0.1", "::1", "prefect-worker"]')
    monkeypatch.setenv("SLIMLINE_SERVE__BACKEND_MODELS", '{"tau2-airline": "http://m:8000/v1"}')
    serve = load_settings(home=tmp_path / "home").serve
    assert serve.reload_allow == ["127.0.0.1", "::1", "prefect-worker"]
    assert serve.backend_models == {"tau2-airline": "http://m:8000/v1"}


def test_a_caller_with_the_reload_token_is_admitted_from_anywhere(router, monkeypatch):
    cfg = router.settings.serve
    assert reload_from(router, "10.244.3.7", "s3cr3t-Tok").status_code == 403  # no token set
    cfg.reload_token_env = "SLIMLINE_TEST_RELOAD_TOKEN"
    monkeypatch.setenv("SLIMLINE_TEST_RELOAD_TOKEN", "s3cr3t-Tok")
    assert reload_from(router, "10.244.3.7", "s3cr3t-Tok").status_code == 200  # a pod
    refused = reload_from(router, "10.244.3.7", "s3cr3t-tok")
    assert refused.status_code == 403 and "reload token" in refused.json()["error"]["message"]
    assert reload_from(router, "10.244.3.7").status_code == 403
    assert reload_from(router, "127.0.0.1").status_code == 200  # the allowlist still counts
    monkeypatch.setenv("SLIMLINE_TEST_RELOAD_TOKEN", "")  # empty: no token at all
    assert reload_from(router, "10.244.3.7", "").status_code == 403
    assert router.reloads == 2


def test_deploy_adapter_sends_the_reload_token_where_it_is_set(tmp_path, monkeypatch):
    from testkit.openai_servers import serving

    from slimline.config import load_settings
    from slimline.tasks.serve.stage import reload_router

    seen = []
    app = FastAPI()

    @app.post("/slimline/champions/reload")
    async def reload(request: Request):
        seen.append(request.headers.get("authorization"))
        return {"champions": {}}

    settings = load_settings(home=tmp_path / "home")
    with serving(app) as url:
        settings.serve.router_url = url
        assert reload_router(settings, timeout=10)["reloaded"]
        settings.serve.reload_token_env = "SLIMLINE_TEST_RELOAD_TOKEN"
        monkeypatch.setenv("SLIMLINE_TEST_RELOAD_TOKEN", "s3cr3t-Tok")
        assert reload_router(settings, timeout=10)["reloaded"]
    assert seen == [None, "Bearer s3cr3t-Tok"]
