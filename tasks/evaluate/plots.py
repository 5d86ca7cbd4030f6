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
