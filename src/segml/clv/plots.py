"""Diagnostic figures of the CLV models, drawn with matplotlib's Agg canvas and saved as PNG.

No pyplot (no global state, no backend switch): each function builds a
:class:`matplotlib.figure.Figure`, saves it and returns the path. The figures are lifetimes'
diagnostics, recomputed with segml's formulas:

* ``calibration_holdout.png`` — mean actual and predicted holdout purchases by the number of
  repeat purchases in the calibration period (lifetimes'
  ``plot_calibration_purchases_vs_holdout_purchases``);
* ``frequency_recency.png`` — expected purchases in the next time unit over frequency × recency
  for a customer observed for the longest age (``plot_frequency_recency_matrix``);
* ``p_alive.png`` — P(alive) over the same grid (``plot_probability_alive_matrix``);
* ``value_deciles.png`` — mean predicted and actual holdout value per decile of prediction.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segml.clv.evaluate import decile_table
from segml.clv.purchase import PurchaseModel
from segml.io import atomic_file, check_can_create

__all__ = [
    "FIGURE_NAMES",
    "check_figures_dir",
    "plot_calibration_holdout",
    "plot_frequency_recency",
    "plot_p_alive",
    "plot_value_deciles",
    "save_figures",
]


#: The files :func:`save_figures` may write.
FIGURE_NAMES = ("calibration_holdout.png", "frequency_recency.png", "p_alive.png",
                "value_deciles.png")  # fmt: skip


def check_figures_dir(folder: str | os.PathLike[str], option: str = "figures folder") -> Path:
    """Check, before any work, that ``folder`` can hold the figures.

    It may exist (as a folder) or not; the nearest existing folder above it must be a writable
    folder, and none of :data:`FIGURE_NAMES` in it may be a folder.

    Raises
    ------
    ValueError
        Naming ``option`` and the path: an existing file, a file on the way, no permission.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder} is an existing file, not a folder: give a folder")
    check_can_create(folder / FIGURE_NAMES[0], option)
    taken = [n for n in FIGURE_NAMES if (folder / n).is_dir()]
    if taken:
        raise ValueError(f"{option} {folder} has folder(s) named {taken} where figures go")
    return folder


def _save(fig: Figure, path: Path) -> Path:
    with atomic_file(path) as tmp:  # a full disk: segml.io.OutputError naming the PNG
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return path


def plot_calibration_holdout(
    frequency: np.ndarray, actual: np.ndarray, predicted: np.ndarray, path: Path, max_freq: int = 7
) -> Path:
    """Mean actual vs predicted holdout purchases by calibration frequency (top-coded)."""
    f = np.minimum(np.asarray(frequency, dtype=float), max_freq).astype(int)
    frame = pd.DataFrame({"f": f, "actual": actual, "predicted": predicted})
    g = frame.groupby("f").agg(
        actual=("actual", "mean"), predicted=("predicted", "mean"), n=("f", "size")
    )
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    ax.plot(g.index, g["actual"], marker="o", label="actual")
    ax.plot(g.index, g["predicted"], marker="s", linestyle="--", label="predicted")
    ticks = [str(i) if i < max_freq else f"{max_freq}+" for i in g.index]
    ax.set_xticks(list(g.index), ticks)
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("mean purchases in the holdout")
    ax.set_title("Calibration vs holdout purchases")
    ax.legend()
    return _save(fig, path)


def _grid(model: PurchaseModel, frequency: np.ndarray, T: np.ndarray, points: int):
    fmax = max(1, int(np.quantile(frequency, 0.99)))
    tmax = float(np.max(T))
    xs = np.unique(np.linspace(0, fmax, min(points, fmax + 1)).round())
    rs = np.linspace(0, tmax, points)
    X, R = np.meshgrid(xs, rs)
    R = np.where(X == 0, 0.0, R)  # no repeat purchase: recency 0
    return xs, rs, X.ravel(), R.ravel(), np.full(X.size, tmax)


def _matrix_plot(values: np.ndarray, xs: np.ndarray, rs: np.ndarray, title: str, label: str,
                 path: Path, unit: str) -> Path:  # fmt: skip
    fig = Figure(figsize=(6.4, 5.0))
    ax = fig.add_subplot()
    im = ax.imshow(
        values.reshape(len(rs), len(xs)), origin="lower", aspect="auto", cmap="viridis",
        extent=(xs[0], xs[-1], rs[0], rs[-1]),
    )  # fmt: skip
    fig.colorbar(im, ax=ax, label=label)
    ax.set_xlabel("repeat purchases (frequency)")
    ax.set_ylabel(f"time of last purchase (recency, {unit}s)")
    ax.set_title(title)
    return _save(fig, path)


def plot_frequency_recency(
    model: PurchaseModel, frequency: np.ndarray, T: np.ndarray, path: Path, points: int = 60
) -> Path:
    """Expected purchases in the next time unit over frequency × recency, at the largest age."""
    xs, rs, x, r, t = _grid(model, frequency, T, points)
    vals = model.expected_purchases(1.0, x, r, t)
    title = f"Expected purchases in the next {model.time_unit}, age {t[0]:g}"
    return _matrix_plot(vals, xs, rs, title, "expected purchases", path, model.time_unit)


def plot_p_alive(
    model: PurchaseModel, frequency: np.ndarray, T: np.ndarray, path: Path, points: int = 60
) -> Path:
    """P(alive) over frequency × recency, at the largest age."""
    xs, rs, x, r, t = _grid(model, frequency, T, points)
    vals = model.p_alive(x, r, t)
    return _matrix_plot(vals, xs, rs, f"P(alive) at age {t[0]:g}", "P(alive)", path, model.time_unit)  # fmt: skip


def plot_value_deciles(actual: np.ndarray, predictions: Mapping[str, np.ndarray], path: Path) -> Path:  # fmt: skip
    """Mean predicted (per model) and actual holdout value per decile of each model's prediction.

    Customers whose prediction is undefined (NaN) are left out of that model's panel; its title
    says how many were kept.
    """
    fig = Figure(figsize=(4.2 * len(predictions) + 1, 4.2))
    actual = np.asarray(actual, dtype=float)
    for i, (name, pred) in enumerate(predictions.items()):
        ax = fig.add_subplot(1, len(predictions), i + 1)
        pred = np.asarray(pred, dtype=float)
        ok = ~np.isnan(pred)
        if not ok.all():
            name = f"{name} ({int(ok.sum()):,} of {len(ok):,} customers)"
        t = decile_table(actual, pred, leave_out_undefined=True)
        w = 0.4
        ax.bar(t["decile"] - w / 2, t["predicted_mean"], w, label="predicted")
        ax.bar(t["decile"] + w / 2, t["actual_mean"], w, label="actual")
        ax.set_xlabel("decile of predicted value")
        ax.set_ylabel("mean holdout value")
        if (t["actual_mean"] > 0).all() and t["actual_mean"].max() / t["actual_mean"].min() > 100:
            ax.set_yscale("log")
        ax.set_title(name)
        ax.legend()
    return _save(fig, path)


def save_figures(
    folder: str | os.PathLike[str],
    model: PurchaseModel,
    rfm: pd.DataFrame,
    actual_purchases: np.ndarray | None,
    predicted_purchases: np.ndarray | None,
    actual_value: np.ndarray | None,
    predicted_values: Mapping[str, np.ndarray] | None,
) -> list[Path]:
    """Write the four figures (the holdout ones only when actuals are given) into ``folder``."""
    folder = Path(folder)
    f, t = rfm["frequency"].to_numpy(), rfm["T"].to_numpy()
    out = [
        plot_frequency_recency(model, f, t, folder / "frequency_recency.png"),
        plot_p_alive(model, f, t, folder / "p_alive.png"),
    ]
    if actual_purchases is not None and predicted_purchases is not None:
        path = folder / "calibration_holdout.png"
        out.insert(0, plot_calibration_holdout(f, actual_purchases, predicted_purchases, path))
    if actual_value is not None and predicted_values:
        out.append(plot_value_deciles(actual_value, predicted_values, folder / "value_deciles.png"))
    return out
