"""slimline's store: the raw store (PII lives only here) and the work store (all derived).

`open_raw(settings)` is for collect and scrub alone: every later stage reads the work store
through `open_work(settings)` and never opens (or migrates) the raw store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slimline.store.base import StoreUnavailable
from slimline.store.raw import AddResult, QuarantinedLine, RawStore
from slimline.store.work import WorkStore

if TYPE_CHECKING:
    from slimline.config import Settings

__all__ = [
    "AddResult",
    "QuarantinedLine",
    "RawStore",
    "StoreUnavailable",
    "WorkStore",
    "open_raw",
    "open_work",
]


def open_raw(settings: Settings) -> RawStore:
    """The raw store, migrated to the newest schema. Only collect and scrub call this."""
    return RawStore(settings.raw_store_url)


def open_work(settings: Settings) -> WorkStore:
    """The work store, migrated to the newest schema."""
    return WorkStore(settings.work_store_url)
