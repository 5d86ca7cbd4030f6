"""The `backfill` flow: the nightly flow once per day of a past date range, oldest first.

Wiring only. Each day is the window [day 00:00 UTC, next day 00:00 UTC), handed to the
nightly flow as `window_start` / `window_end`, so a backfilled night sees the calls of that
day as the nightly run would have.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from prefect import flow

from slimline.flows.nightly import nightly
from slimline.tasks.nightly.result import NightlyResult


@flow(name="backfill")
def backfill(
    start: date,
    end: date,
    sources: list[str] | None = None,
    home: str | None = None,
    config: str | None = None,
    profile: str | None = None,
) -> list[NightlyResult]:
    """Run the nightly flow for every day from `start` to `end`, both included."""
    if end < start:
        raise ValueError(f"backfill: end {end} is before start {start}")
    results = []
    for offset in range((end - start).days + 1):
        window_start = datetime.combine(start + timedelta(days=offset), datetime.min.time(), UTC)
        results.append(
            nightly(
                sources=sources,
                home=home,
                config=config,
                profile=profile,
                window_start=window_start,
                window_end=window_start + timedelta(days=1),
            )
        )
    return results
