"""A running router switches champions while requests are in flight, none fails: a promotion
(what deploy-adapter's reload task does after the promotion event) and a rollback."""

from __future__ import annotations

import threading

import httpx
import pytest
from testkit.router_world import body_of, only_tool, promote, running_router
from testkit.tiny_adapters import build_adapter

pytestmark = pytest.mark.slow


def test_a_new_champion_and_a_rollback_swap_in_while_requests_are_in_flight(served, upstream):
    from slimline.prompt import DistilledContext
    from slimline.tasks.promote.stage import rollback_cluster
    from slimline.tasks.serve.stage import reload_router

    world = served
    settings = world.settings
    slug, cid = world.models["tau2-airline"], world.clusters["tau2-airline"]
    body = body_of(world.raw["tau2-airline"][-1], **only_tool("list_all_airports"))
    answered: list[tuple[int, str]] = []
    stop = threading.Event()

    def agent() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                r = client.post(f"{url}/v1/chat/completions", json=body)
                answered.append((r.status_code, r.headers.get("x-slimline-served-by", "")))

    with running_router(world, upstream[1]) as (router, url):
        settings.serve.router_url = url
        try:
            first = router.champions[cid].version
            agents = [threading.Thread(target=agent) for _ in range(4)]
            for t in agents:
                t.start()
            context = DistilledContext.load(world.adapters["tau2-airline"]).to_dict()
            folder = build_adapter(world.tiny_base, world.adapters["tau2-airline"].parent /
                                   "airline-next", 5, context)  # fmt: skip
            new = promote(settings, cid, slug, folder, world.tiny_base, 0.0)
            promoted = reload_router(settings)  # deploy-adapter's last task
            assert promoted["reloaded"] and promoted["champions"][str(cid)] == f"{slug}@v{new}"
            seen = len(answered)
            while len(answered) < seen + 8:
                stop.wait(0.05)
            rollback_cluster(settings, slug, emit=False)
            back = reload_router(settings)
            assert back["champions"][str(cid)] == f"{slug}@v{first}"
            seen = len(answered)
            while len(answered) < seen + 8:
                stop.wait(0.05)
        finally:
            stop.set()
            for t in agents:
                t.join(120)
            settings.serve.router_url = None

    assert answered and all(status == 200 for status, _ in answered), answered
    who = [w for _, w in answered]
    assert set(who) <= {f"slm:{slug}@v{first}", f"slm:{slug}@v{new}"}, set(who)
    assert f"slm:{slug}@v{new}" in who and who[-1] == f"slm:{slug}@v{first}"
    # served by the new version only between the swap and the rollback
    changes = [w for i, w in enumerate(who) if i == 0 or w != who[i - 1]]
    assert changes[:3] == [f"slm:{slug}@v{first}", f"slm:{slug}@v{new}", f"slm:{slug}@v{first}"]
