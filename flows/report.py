"""The `report` flow: what promoted SLMs serve now (share of calls, quality, cost saved), as
Prefect artifacts and an MLflow run."""

from __future__ import annotations

from prefect import flow

from slimline.runtime import flow_settings
from slimline.tasks.report.result import ReportResult
from slimline.tasks.report.tasks import report_task


@flow(name="report")
def report(
    home: str | None = None, config: str | None = None, profile: str | None = None
) -> ReportResult:
    """Report what the champions serve now."""
    return report_task(flow_settings(home, config, profile))


if __name__ == "__main__":
    report()
