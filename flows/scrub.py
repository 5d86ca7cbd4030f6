"""The `scrub` flow: raw calls collected since the last run -> scrubbed calls in the work
store, with an MLflow run and the `scrub-report` table artifact."""

from __future__ import annotations

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.scrub.result import ScrubResult
from slimline.tasks.scrub.tasks import scrub_task


@flow(name="scrub")
def scrub(
    home: str | None = None, config: str | None = None, profile: str | None = None
) -> ScrubResult:
    """Scrub PII and secrets from the calls collected since the last run."""
    return scrub_task(flow_settings(home, config, profile))


if __name__ == "__main__":
    scrub()
