"""The Prefect event a promotion emits, and the deployment trigger that answers it.

`slimline.adapter.promoted` says "this version now serves this cluster" (after the gate
passed, or after a rollback). Its resource is `slimline.cluster.<slug>` with the labels
`slimline.cluster` (slug), `slimline.cluster_id`, `slimline.model` (registered model) and
`slimline.version`; the payload holds the reason, the replaced version and the metrics.
A deployment of the `deploy-adapter` flow triggers on it with `promoted_trigger()`, or in
prefect.yaml:

    triggers:
      - type: event
        enabled: true
        match: {prefect.resource.id: "slimline.cluster.*"}
        expect: ["slimline.adapter.promoted"]
        parameters:
          model_name: "{{ event.resource['slimline.model'] }}"
          version: "{{ event.resource['slimline.version'] | int }}"
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

PROMOTED_EVENT = "slimline.adapter.promoted"
RESOURCE_PREFIX = "slimline.cluster."


def resource_id(slug: str) -> str:
    return RESOURCE_PREFIX + slug


def promoted_resource(slug: str, cluster_id: int, model: str, version: int) -> dict[str, str]:
    return {
        "prefect.resource.id": resource_id(slug),
        "prefect.resource.name": slug,
        "slimline.cluster": slug,
        "slimline.cluster_id": str(cluster_id),
        "slimline.model": model,
        "slimline.version": str(version),
    }


def emit_promoted(
    slug: str,
    cluster_id: int,
    model: str,
    version: int,
    payload: dict[str, Any] | None = None,
    wait_s: float = 10.0,
) -> str | None:
    """Emit `slimline.adapter.promoted` and wait until it was sent; returns the event id."""
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    event = emit_event(
        event=PROMOTED_EVENT,
        resource=promoted_resource(slug, cluster_id, model, version),
        payload=payload or {},
    )
    if event is None:
        log.warning("Prefect is not set up to receive events: %s was not sent", PROMOTED_EVENT)
        return None
    _flush(EventsWorker, wait_s)
    return str(event.id)


def _flush(worker_cls: Any, wait_s: float) -> None:
    """Wait for the events worker to send what it holds (it sends from its own thread)."""
    import threading

    done = threading.Event()

    def wait() -> None:
        worker_cls.instance().wait_until_empty()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    if not done.wait(wait_s):
        log.warning("the promotion event was not confirmed sent within %.0f s", wait_s)


def promoted_trigger(name: str = "deploy promoted adapters") -> Any:
    """A deployment trigger that runs the deployment with the promoted model and version."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name=name,
        enabled=True,
        match={"prefect.resource.id": RESOURCE_PREFIX + "*"},
        expect={PROMOTED_EVENT},
        parameters={
            "model_name": "{{ event.resource['slimline.model'] }}",
            "version": "{{ event.resource['slimline.version'] | int }}",
        },
    )
