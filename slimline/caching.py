"""The cache key of the night's expensive tasks (train, evaluate), so a re-run of a crashed
night reuses what finished and redoes what did not.

The key is made of the retraining plan the task is given (`plan`: each changed cluster's
digest of its calls and the config, tasks/nightly/plan.py), the task's name and a hash of
its source. A task run without a plan (a single-stage flow) is not cached.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

from slimline.record import canonical_json


def plan_cache_key(name: str, fn: Callable[..., Any]) -> Callable[[Any, dict[str, Any]], Any]:
    """A Prefect `cache_key_fn` keyed on the `plan` parameter; None (no caching) without one."""
    source = hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:12]

    def key(_context: Any, parameters: dict[str, Any]) -> str | None:
        plan = parameters.get("plan")
        if not plan:
            return None
        plan = {str(k): v for k, v in plan.items()}
        digest = hashlib.sha256(canonical_json(plan).encode()).hexdigest()[:24]
        return f"slimline-{name}-{digest}-{source}"

    return key
