"""Lorenz plot of value concentration (needs matplotlib, imported only when plotting)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segml.tiers.concentration import gini, lorenz_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_lorenz(
    values: pd.Series | np.ndarray,
    ax: Axes | None = None,
    *,
    label: str | None = None,
    **line_kw: Any,
) -> Axes:
    """Draw the Lorenz curve of a value score, with the line of equality.

    Parameters
    ----------
    values : array-like of float
        Value per customer.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure (without pyplot, so no global state) when omitted.
    label : str, optional
        Legend label; the Gini coefficient is appended.
    **line_kw
        Passed to ``Axes.plot`` for the curve.

    Returns
    -------
    matplotlib.axes.Axes
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - matplotlib is optional
        raise ImportError("plot_lorenz needs matplotlib (pip install matplotlib)") from e
    if ax is None:
        ax = Figure(figsize=(5, 5)).add_subplot()
    curve = lorenz_curve(values)
    g = gini(values)
    text = f"{label or 'value'} (Gini {g:.2f})"
    ax.plot(curve.customer_share, curve.value_share, label=text, **line_kw)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="equality")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("cumulative share of customers (value ascending)")
    ax.set_ylabel("cumulative share of value")
    ax.set_title("Lorenz curve")
    ax.legend(loc="upper left")
    return ax
