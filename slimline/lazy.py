"""Lazy exports for the stage packages' `__init__`: a stage's front (config, result, stage
function, Prefect task) is importable from the package, but only its config is imported
with it. The core config imports every stage's config, and a stage's other modules import
the core config (and Prefect, MLflow, torch): loading them on first use keeps both the
import order sound and `import slimline.config` light."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, **modules: str) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `result="A B"` makes `package.A` and
    `package.B` import `package.result` when first asked for."""
    names = {name: module for module, found in modules.items() for name in found.split()}

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
