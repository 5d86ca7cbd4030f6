"""The cascade as a picture: coverage and served agreement at every confidence threshold on
a challenger's test calls, with its calibrated threshold and the target marked (matplotlib,
Agg). People look at this rather than read the numbers."""

from __future__ import annotations

from typing import Any

from slimline.cascade import Scored, curve, serve_at


def cascade_figure(scored: list[Scored], threshold: float | None, target: float, title: str) -> Any:
    """Coverage (x) against served agreement (y) as the threshold falls, on the test calls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = curve(scored)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    if points:
        ax.plot([p[1] for p in points], [p[2] for p in points], marker=".", label="test calls")
    ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:.2f}")
    if threshold is not None:
        at = serve_at(scored, threshold)
        ax.scatter([at.coverage], [at.agreement or 0.0], color="red", zorder=3,
                   label=f"threshold {threshold:.3f}: serves {at.coverage:.0%}")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("coverage: share of the test calls served")
    ax.set_ylabel("agreement of the served calls with the teacher")
    ax.set_title(f"{title}: serve what the adapter is sure of", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def close(figure: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


def action(calls: list[dict[str, Any]], invalid: int = 0) -> str:
    """What an answer did, for the confusion table: its tool names, `text`, or `invalid`."""
    if invalid:
        return "invalid tool call"
    return " + ".join(sorted(c["name"] for c in calls)) if calls else "text"


def confusion(teacher: list[str], student: list[str]) -> list[dict[str, Any]]:
    """Rows (teacher, slm, calls), most frequent first: what the teacher did against what
    the small model did on the same calls."""
    from collections import Counter

    counts = Counter(zip(teacher, student, strict=True))
    return [
        {"teacher": t, "slm": s, "calls": n}
        for (t, s), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def confusion_figure(rows: list[dict[str, Any]], title: str, top: int = 12) -> Any:
    """The confusion table as a heatmap (the `top` most frequent actions on each side)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def frequent(side: str) -> list[str]:
        totals: dict[str, int] = {}
        for r in rows:
            totals[r[side]] = totals.get(r[side], 0) + r["calls"]
        return sorted(totals, key=lambda k: -totals[k])[:top]

    teacher, slm = frequent("teacher"), frequent("slm")
    grid = [[0] * len(slm) for _ in teacher]
    for r in rows:
        if r["teacher"] in teacher and r["slm"] in slm:
            grid[teacher.index(r["teacher"])][slm.index(r["slm"])] += r["calls"]
    fig, ax = plt.subplots(figsize=(1.1 * len(slm) + 3, 0.45 * len(teacher) + 2))
    ax.imshow(grid, cmap="Blues")
    ax.set_xticks(range(len(slm)), slm, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(teacher)), teacher, fontsize=7)
    for i, row in enumerate(grid):
        for j, n in enumerate(row):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=7)
    ax.set_xlabel("what the small model did")
    ax.set_ylabel("what the teacher did")
    ax.set_title(f"{title}: test calls", fontsize=10)
    fig.tight_layout()
    return fig
