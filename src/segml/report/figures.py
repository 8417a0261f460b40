"""Figures of the review pack, as ``data:image/png;base64`` URIs.

The run's own PNGs (``figures/``) are embedded as they are; the pack draws the rest here with
matplotlib's object API (a ``Figure`` without pyplot: no global state, no display needed).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "embed_png",
    "gains_chart",
    "grade_chart",
    "heatmap",
    "lorenz_chart",
    "population_chart",
    "psi_chart",
    "ratio_chart",
    "segment_chart",
    "stage_chart",
    "tier_share_chart",
    "to_uri",
]

BLUE, ORANGE, GREY, RED, GREEN = "#1e3a8a", "#d97706", "#9ca3af", "#b91c1c", "#15803d"


def embed_png(path: Path | None) -> str | None:
    """A PNG file as a data URI (``None`` for a missing file)."""
    if path is None or not Path(path).is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _figure(width: float = 6.4, height: float = 4.0) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def to_uri(fig: Figure) -> str:
    """Render a figure as a PNG data URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def lorenz_chart(values: pd.Series | np.ndarray, top_share: float | None = None) -> str:
    """Lorenz curve of the positive-clipped value score, the top 20% marked.

    The curve and its legend's Gini are those of the value clipped at 0, as the section's
    headline Gini and top shares are (:func:`segml.tiers.concentration.concentration`,
    ``gini_positive``): one Gini on the page. The arrow points at the curve where the top 20%
    of customers begin: the bottom 80% hold ``1 − top_share`` of positive value.
    """
    from segml.tiers import plot_lorenz

    fig = _figure(5.6, 4.4)
    ax = fig.add_subplot()
    clipped = np.clip(np.asarray(values, dtype=float), 0.0, None)
    plot_lorenz(clipped, ax, label="value score, clipped at 0", color=BLUE)
    if top_share is not None:
        ax.axvline(0.8, color=ORANGE, linestyle=":", linewidth=1)
        ax.annotate(
            f"top 20%: {top_share:.0%}\nof positive value",
            (0.8, 1.0 - top_share),
            (0.3, 0.62),
            fontsize=9,
            color=ORANGE,
            arrowprops={"arrowstyle": "->", "color": ORANGE},
        )
    return to_uri(fig)


def tier_share_chart(
    tiers: Sequence[str], customer: Sequence[float], value: Sequence[float]
) -> str:
    """Share of customers against share of positive value, per tier."""
    fig = _figure(5.6, 4.4)
    ax = fig.add_subplot()
    x = np.arange(len(tiers))
    ax.bar(x - 0.2, customer, 0.4, label="share of customers", color=GREY)
    ax.bar(x + 0.2, value, 0.4, label="share of positive value", color=BLUE)
    for xi, v in zip(x, value, strict=True):
        ax.text(xi + 0.2, v + 0.01, f"{v:.0%}", ha="center", fontsize=8)
    ax.set_xticks(x, tiers, rotation=15)
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title("Customers and value by tier")
    ax.legend(loc="upper right", fontsize=8)
    return to_uri(fig)


def population_chart(steps: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars: how many customers each step of the run covers."""
    fig = _figure(6.4, 0.45 * len(steps) + 1.2)
    ax = fig.add_subplot()
    labels = [s for s, _ in steps][::-1]
    counts = [n for _, n in steps][::-1]
    ax.barh(labels, counts, color=BLUE)
    for i, n in enumerate(counts):
        ax.text(n, i, f" {n:,}", va="center", fontsize=8)
    ax.set_xlim(0, max(counts) * 1.15 if counts and max(counts) > 0 else 1)
    ax.set_xlabel("customers")
    ax.set_title("Population: customers in each step of the run")
    return to_uri(fig)


def segment_chart(
    names: Sequence[str], size_share: Sequence[float], value_share: Sequence[float]
) -> str:
    """Share of customers against share of value, per segment."""
    fig = _figure(6.4, 0.5 * len(names) + 1.4)
    ax = fig.add_subplot()
    y = np.arange(len(names))
    ax.barh(y + 0.2, size_share, 0.4, label="share of customers (of its type)", color=GREY)
    ax.barh(y - 0.2, value_share, 0.4, label="share of value (of its type)", color=BLUE)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_title("Segments: size and value")
    ax.legend(loc="lower right", fontsize=8)
    return to_uri(fig)


def grade_chart(
    grades: Sequence[str], counts: Sequence[int], event_rate: Sequence[float | None]
) -> str:
    """Corporate clients per grade, with the observed credit-event rate."""
    fig = _figure(5.6, 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(grades))
    ax.bar(x, counts, color=BLUE)
    ax.set_xticks(x, grades)
    ax.set_ylabel("corporate clients")
    ax.set_title("Corporate grades (best to worst)")
    ax2 = ax.twinx()
    rates = [np.nan if r is None else r for r in event_rate]
    ax2.plot(x, rates, "o-", color=RED, label="credit-event rate (evaluation)")
    ax2.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax2.set_ylim(0, max([r for r in rates if np.isfinite(r)] + [0.05]) * 1.3)
    ax2.legend(loc="upper left", fontsize=8)
    return to_uri(fig)


def gains_chart(outcome: np.ndarray, scores: Mapping[str, np.ndarray]) -> str:
    """Cumulative gains: share of churners found against share of customers contacted."""
    fig = _figure(5.6, 4.4)
    ax = fig.add_subplot()
    y = np.asarray(outcome, dtype=float)
    for (label, s), color in zip(scores.items(), (BLUE, ORANGE, GREEN), strict=False):
        order = np.argsort(-np.asarray(s, dtype=float), kind="stable")
        found = np.concatenate([[0], np.cumsum(y[order])]) / max(y.sum(), 1)
        share = np.arange(len(y) + 1) / len(y)
        ax.plot(share, found, label=label, color=color)
    ax.plot([0, 1], [0, 1], "--", color=GREY, label="random")
    ax.axvline(0.1, color=GREY, linestyle=":", linewidth=1)
    ax.set_xlabel("share of customers, highest risk first")
    ax.set_ylabel("share of churners found")
    ax.set_title("Churn: cumulative gains on the test snapshot")
    ax.legend(loc="lower right", fontsize=8)
    return to_uri(fig)


def psi_chart(labels: Sequence[str], values: Sequence[float]) -> str:
    """PSI per score or feature, coloured by the usual 0.1 / 0.25 bands."""
    fig = _figure(6.4, 0.32 * len(labels) + 1.4)
    ax = fig.add_subplot()
    colors = [GREEN if v < 0.1 else (ORANGE if v <= 0.25 else RED) for v in values]
    y = np.arange(len(labels))
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    for line in (0.1, 0.25):
        ax.axvline(line, color=GREY, linestyle="--", linewidth=1)
    ax.set_xlim(0, max([*values, 0.3]) * 1.1)
    ax.set_xlabel("PSI (< 0.1 stable, 0.1–0.25 moderate, > 0.25 major shift)")
    ax.set_title("Population stability against the reference run")
    return to_uri(fig)


def ratio_chart(frame: pd.DataFrame, outcomes: Mapping[str, str], threshold: float = 0.8) -> str:
    """Four-fifths ratios per group (rows of ``frame``: attribute, group, ``<outcome>_ratio``)."""
    attrs = list(dict.fromkeys(frame["attribute"]))
    fig = _figure(6.4 * len(attrs) / 1.4 if len(attrs) > 1 else 6.4, 4.2)
    axes = fig.subplots(1, len(attrs), squeeze=False)[0]
    colors = (BLUE, ORANGE, GREEN, GREY)
    for ax, attr in zip(axes, attrs, strict=True):
        part = frame[frame["attribute"] == attr]
        judged = part["judged"] if "judged" in part else pd.Series(True, index=part.index)
        x = np.arange(len(part))
        width = 0.8 / max(len(outcomes), 1)
        for i, ((key, label), color) in enumerate(zip(outcomes.items(), colors, strict=False)):
            vals = part[f"{key}_ratio"].to_numpy(dtype=float)
            bars = ax.bar(
                x + (i - (len(outcomes) - 1) / 2) * width,
                np.nan_to_num(vals, nan=0.0),
                width,
                label=label,
                color=color,
            )
            for b, flagged, j in zip(bars, part[f"{key}_flag"], judged, strict=True):
                if not j:
                    b.set_alpha(0.3)
                if flagged:
                    b.set_edgecolor(RED)
                    b.set_linewidth(2)
        ax.axhline(threshold, color=RED, linestyle="--", linewidth=1)
        ticks = [
            f"{g}\nn={n}" + ("" if j else "\nnot judged")
            for g, n, j in zip(part["group"], part["n"], judged, strict=True)
        ]
        ax.set_xticks(x, ticks, fontsize=8)
        top = np.nanmax(part[[f"{k}_ratio" for k in outcomes]].to_numpy(dtype=float), initial=1.0)
        ax.set_ylim(0, max(1.1, top * 1.05))
        ax.set_title(f"by {attr.replace('_', ' ')}")
        ax.set_ylabel("ratio to the best-treated group")
    axes[0].legend(loc="lower left", fontsize=7)
    fig.suptitle(f"Four-fifths rule: ratios below {threshold} (red line) are flagged")
    return to_uri(fig)


def heatmap(counts: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> str:
    """A count matrix with the count in each cell (rows and columns as labelled)."""
    m = counts.to_numpy(dtype=float)
    fig = _figure(1.1 * m.shape[1] + 2.6, 0.7 * m.shape[0] + 1.6)
    ax = fig.add_subplot()
    ax.imshow(np.log1p(m), cmap="Blues", aspect="auto")
    top = np.log1p(m).max() if m.size else 0
    for (i, j), v in np.ndenumerate(m):
        light = top > 0 and np.log1p(v) > 0.6 * top
        ax.text(
            j,
            i,
            f"{int(v):,}",
            ha="center",
            va="center",
            fontsize=9,
            color="white" if light else "black",
        )
    ax.set_xticks(range(m.shape[1]), [str(c) for c in counts.columns], rotation=20, fontsize=8)
    ax.set_yticks(range(m.shape[0]), [str(r) for r in counts.index], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return to_uri(fig)


def stage_chart(seconds: Mapping[str, float]) -> str:
    """Run time per pipeline stage."""
    fig = _figure(5.6, 0.28 * len(seconds) + 1.3)
    ax = fig.add_subplot()
    names, secs = list(seconds), [float(v) for v in seconds.values()]
    ax.barh(names, secs, color=BLUE)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(f"Pipeline stages ({sum(secs):.0f} s in all)")
    return to_uri(fig)
