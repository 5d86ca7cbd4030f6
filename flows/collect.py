"""The `collect` flow: every source into the raw store, one task per source, then the counts.

    sources -> collect-source (x N, retried) -> collect-counts artifact

Run it with `python -m slimline.flows.collect --source PATH` or from a deployment with the
parameters below. The nightly flow calls `collect_sources` (tasks/collect/ingest.py) itself.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from prefect import flow

from slimline.config import load_settings
from slimline.runtime import configure
from slimline.tasks.collect.flow_tasks import (
    collect_source_task,
    counts_from_state,
    publish_counts,
)
from slimline.tasks.collect.ingest import CollectResult, Window


@flow(name="collect", log_prints=False)
def collect(
    sources: list[str] | None = None,
    home: str | None = None,
    config: str | None = None,
    profile: str | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> CollectResult:
    """Collect `sources` (default: collect.sources from the config) into the raw store; with
    `window_start` / `window_end`, only the calls of that window (a backfill)."""
    settings = load_settings(config, home=home, profile=profile)
    configure(settings)
    wanted = list(sources or settings.collect.sources)
    window = Window.between(window_start, window_end)
    counts = [
        counts_from_state(source, collect_source_task(settings, source, window, return_state=True))
        for source in wanted
    ]
    result = CollectResult(sources=counts)
    publish_counts(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slimline.flows.collect")
    parser.add_argument("--source", action="append", default=None)
    parser.add_argument("--home", default=None)
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    configure(load_settings(args.config, home=args.home))  # Prefect's home before it starts
    result = collect(sources=args.source, home=args.home, config=args.config)
    print(result.model_dump_json(indent=2))
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
