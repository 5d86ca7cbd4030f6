"""slimline's store: the raw store (PII lives only here) and the work store (all derived)."""

from slimline.store.base import StoreUnavailable
from slimline.store.raw import AddResult, QuarantinedLine, RawStore
from slimline.store.work import WorkStore

__all__ = ["AddResult", "QuarantinedLine", "RawStore", "StoreUnavailable", "WorkStore"]
