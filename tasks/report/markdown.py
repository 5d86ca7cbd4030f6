"""The report as markdown: the headline, what each stage did, quality against the teacher,
what the champions serve, and the tasks inside each cluster. Counts, slugs and tool names
only: no call content."""

from __future__ import annotations

from typing import Any

from slimline.tasks.evaluate.result import EvaluateResult
from slimline.tasks.report.per_task import tasks_markdown
from slimline.tasks.report.summary import summary_markdown

QUALITY_METRIC = "name_args_accuracy"


def headline(summary: dict[str, Any]) -> str:
    """One sentence: share of calls served and what that saves."""
    return (
        f"{summary['served_share_calls']:.1%} of calls ({summary['served_calls']}) are now "
        f"served by promoted SLMs in {summary['served_clusters']} clusters; estimated saving "
        f"${summary['saved_usd']:.4f} ({summary['saved_share_cost']:.1%} of the teacher's cost)"
    )


def stage_table(stages: dict[str, dict[str, Any]]) -> str:
    """What each stage did, as a markdown table."""
    lines = ["| stage | result |", "|---|---|"]
    for stage, figures in stages.items():
        text = ", ".join(f"{k} {v}" for k, v in figures.items()) or "nothing to do"
        lines.append(f"| {stage} | {text} |")
    return "\n".join(lines)


def report_markdown(
    summary: dict[str, Any], stages: dict[str, dict[str, Any]], quality: list[dict[str, Any]]
) -> str:
    """The whole report page."""
    parts = [
        f"# slimline nightly report\n\n**{headline(summary)}**",
        "## Tonight",
        stage_table(stages),
    ]
    if quality:
        parts += ["## Tonight's challengers on their test calls", quality_table(quality)]
    parts.append(summary_markdown(summary).replace("# What small models serve now", "## Served"))
    tasks = tasks_markdown(summary["clusters"])
    if tasks:
        parts += ["## Tasks inside each cluster", tasks]
    return "\n\n".join(parts) + "\n"


def quality_rows(evaluation: EvaluateResult | None) -> list[dict[str, Any]]:
    """Per evaluated cluster: base and adapter (challenger) figures, for the table and plot."""
    rows = []
    for r in evaluation.evaluated if evaluation is not None else []:
        rows.append(
            {
                "slug": r.slug,
                "n": r.n_examples,
                "threshold": r.threshold,
                **{
                    f"serves_{key}": (r.cascade.get("challenger") or {}).get(key)
                    for key in ("coverage", "served_agreement", "auroc")
                },
                **{
                    f"{role}_{name}": r.metric(role, name)
                    for role in ("base", "challenger")
                    for name in (QUALITY_METRIC, "response_type_accuracy", "text_similarity")
                },
            }
        )
    return rows


def quality_table(rows: list[dict[str, Any]]) -> str:
    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.2f}"

    lines = [
        "| cluster | test calls | adapter serves | at agreement | threshold | AUROC | "
        "name+args (all) base → adapter | type base → adapter | text base → adapter |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        coverage = r["serves_coverage"]
        lines.append(
            f"| {r['slug']} | {r['n']} | {'–' if coverage is None else format(coverage, '.1%')} "
            f"| {f(r['serves_served_agreement'])} | "
            f"{'–' if r['threshold'] is None else format(r['threshold'], '.3f')} | "
            f"{f(r['serves_auroc'])} | {f(r['base_' + QUALITY_METRIC])} → "
            f"{f(r['challenger_' + QUALITY_METRIC])} | {f(r['base_response_type_accuracy'])} → "
            f"{f(r['challenger_response_type_accuracy'])} | {f(r['base_text_similarity'])} → "
            f"{f(r['challenger_text_similarity'])} |"
        )
    return "\n".join(lines)
