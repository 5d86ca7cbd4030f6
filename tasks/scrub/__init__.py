"""The scrub stage (S2): raw calls -> scrubbed calls in the work store. Presidio finds the
PII and secrets, realistic surrogates replace them; run_scrub is the entry point and
scrub_task its Prefect task (the front is lazily imported: slimline/lazy.py)."""

from slimline.lazy import lazy_exports
from slimline.tasks.scrub.config import ScrubConfig

__all__ = ["ScrubConfig", "ScrubError", "ScrubResult", "run_scrub", "scrub_task"]
__getattr__ = lazy_exports(
    __name__, result="ScrubResult", stage="ScrubError run_scrub", tasks="scrub_task"
)
