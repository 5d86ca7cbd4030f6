"""Shadow checks: a share (`serve.shadow_fraction`) of the calls a champion answered is also
sent to the LLM in the background, and the two answers compared (tool calls: names and
arguments equal, as replay and evaluation compare them; text answers are not counted).

Per champion the router keeps the live agreement and logs it to the champion's train run
in MLflow (`shadow.calls`, `shadow.agreement`). Once `serve.shadow_min_calls` tool-call
answers were compared and the agreement is below the target (`serve.shadow_target`, or
`promote.target_agreement`), the champion stops serving its cluster (everything goes
upstream, reason `champion_disabled`), and the Prefect event `slimline.serve.disabled` says
so. The LLM's shadow answers are not recorded in the raw store; the caller has its answer
already and never waits for the shadow.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from slimline.chat_format import reference_calls
from slimline.record import Message

log = logging.getLogger("slimline.serve")

DISABLED_EVENT = "slimline.serve.disabled"


@dataclass
class Tally:
    calls: int = 0
    agreed: int = 0

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.calls if self.calls else None


def upstream_calls(content: bytes) -> list[dict[str, Any]] | None:
    """The tool calls of an upstream chat.completion (name, parsed arguments); None when it
    is not one, [] for a text answer."""
    try:
        message = json.loads(content)["choices"][0]["message"]
        return reference_calls(Message.model_validate(message))
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def emit_disabled(champion: Any, reason: str) -> None:
    """The Prefect event saying a champion stopped serving (logged when Prefect is absent)."""
    try:
        from prefect.events import emit_event

        from slimline.tasks.promote.events import resource_id

        emit_event(
            event=DISABLED_EVENT,
            resource={
                "prefect.resource.id": resource_id(champion.model),
                "slimline.model": champion.model,
                "slimline.version": str(champion.version),
                "slimline.cluster_id": str(champion.cluster_id),
            },
            payload={"reason": reason},
        )
    except Exception as exc:  # no Prefect API: the log says it
        log.warning("%s not emitted (%s): %s", DISABLED_EVENT, exc, reason)
