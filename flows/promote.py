"""The `promote` flow: the gate over the last evaluation, the registry's aliases and the
promotion event, then the report of what the champions now serve.

    promote -> report
"""

from __future__ import annotations

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.promote.result import PromoteResult
from slimline.tasks.promote.tasks import promote_task
from slimline.tasks.report.tasks import report_task


@flow(name="promote")
def promote(
    home: str | None = None, config: str | None = None, profile: str | None = None
) -> PromoteResult:
    """Promote the last evaluation's challengers that pass the gate; report what serves."""
    settings = flow_settings(home, config, profile)
    result = promote_task(settings)
    report_task(settings)
    return result


if __name__ == "__main__":
    promote()
