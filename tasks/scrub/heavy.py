"""Importing Presidio and spaCy lightly: without torch and transformers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_torch() -> Iterator[None]:
    """Import Presidio and spaCy without torch and transformers, which neither needs here.

    Importing Presidio pulls both in (spaCy's thinc probes for torch, Presidio's
    Hugging Face pipe imports transformers): 10-40 s on two busy cores, in every process.
    Modules already imported are left alone; the block ends with the import, so later code
    can import torch as usual (only thinc keeps believing it has no torch).
    """
    os.environ.setdefault("PRESIDIO_DEVICE", "cpu")  # no CUDA probe through torch
    blocked = [m for m in ("torch", "transformers") if m not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
