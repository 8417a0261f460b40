"""Calibration figure (reliability diagram) of churn probabilities, drawn with matplotlib Agg.

No pyplot state is touched: the figure is built on its own Agg canvas and written to a PNG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

__all__ = ["plot_calibration"]


def plot_calibration(
    tables: Mapping[str, pd.DataFrame],
    path: str | os.PathLike[str],
    title: str = "Calibration of churn probabilities",
) -> Path:
    """Write a reliability diagram of one or more calibration tables to ``path`` (PNG).

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Label -> :func:`segml.churn.metrics.calibration_table` output (``predicted``,
        ``observed``, ``observed_low``, ``observed_high``, ``n``).
    path : path
        Output PNG; its folder is created.
    title : str
        Figure title.

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not tables:
        raise ValueError("no calibration table to plot")
    fig = Figure(figsize=(6.4, 6.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    top = 0.0
    for label, t in tables.items():
        if t.empty:
            continue
        yerr = [t["observed"] - t["observed_low"], t["observed_high"] - t["observed"]]
        ax.errorbar(
            t["predicted"], t["observed"], yerr=yerr, marker="o", ms=4, capsize=2, label=label
        )
        top = max(top, float(t["predicted"].max()), float(t["observed_high"].max()))
    top = min(1.0, top * 1.05 + 1e-3)
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1, label="perfect calibration")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("mean predicted churn probability (equal-count bins)")
    ax.set_ylabel("observed churn rate (95% Wilson interval)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
