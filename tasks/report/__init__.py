"""The report stage: the share of calls promoted SLMs serve, what that saves, and what each
stage did, in Prefect (artifacts) and MLflow (a run with the page, plots and metrics).

Front: `ReportConfig` (config.py); `ReportResult` (result.py); `run_report` (stage.py);
`report_task` (tasks.py). Inside: summary.py (the served summary), markdown.py, plots.py.
Only the config is imported with the package; the rest on first use.
"""

from slimline.lazy import lazy_exports
from slimline.tasks.report.config import ReportConfig

__all__ = ["ReportConfig", "ReportResult", "report_task", "run_report"]
__getattr__ = lazy_exports(__name__, result="ReportResult", stage="run_report", tasks="report_task")
