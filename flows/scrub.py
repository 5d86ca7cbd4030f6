"""The scrub flow: raw calls collected since the last run -> scrubbed calls in the work store,
with an MLflow run and a Prefect table artifact of what was replaced."""

from __future__ import annotations

from typing import Any

from prefect import flow

from slimline.config import load_settings
from slimline.runtime import configure
from slimline.tasks.scrub.tasks import publish_scrub_report, scrub_new_calls_task


@flow(name="scrub")
def scrub(
    home: str | None = None, config: str | None = None, profile: str | None = None
) -> dict[str, Any]:
    """Scrub PII and secrets from the calls collected since the last run."""
    settings = load_settings(config, home=home, profile=profile)
    configure(settings)
    result = scrub_new_calls_task(settings)
    publish_scrub_report(result)
    return result.summary()


if __name__ == "__main__":
    scrub()
