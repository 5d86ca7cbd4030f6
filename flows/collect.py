"""The `collect` flow: every source into the raw store, one task per source, then the counts.

    sources -> collect-source (x N, retried) -> collect-counts artifact

Run it with `python -m slimline.flows.collect --source PATH` or from a deployment.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.collect.config import Window
from slimline.tasks.collect.result import CollectResult
from slimline.tasks.collect.tasks import collect_in_flow


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
    settings = flow_settings(home, config, profile)
    return collect_in_flow(settings, sources, Window.between(window_start, window_end))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slimline.flows.collect")
    parser.add_argument("--source", action="append", default=None)
    parser.add_argument("--home", default=None)
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    flow_settings(args.home, args.config)  # Prefect's home before it starts
    result = collect(sources=args.source, home=args.home, config=args.config)
    print(result.model_dump_json(indent=2))
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
