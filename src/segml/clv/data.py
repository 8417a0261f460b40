"""Input checks of the CLV models: RFM arrays and summary frames, with errors that name values.

lifetimes fails late (inside the optimiser) or silently (it casts frequencies to ``int``);
segml checks up front and names the input, the column and a few offending customers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segml.tables import offending_rows

__all__ = ["RFM_COLUMNS", "as_rfm_arrays", "check_rfm_frame"]

#: Columns of an RFM summary (lifetimes' names).
RFM_COLUMNS = ("frequency", "recency", "T")


def _labels(obj: Any) -> Callable[[int], Any]:
    """The name of a row by position: its index label for pandas, else the position. Looked up
    only when an error names rows (listing a million-row index on every call cost most of a
    prediction)."""
    if isinstance(obj, pd.Series | pd.DataFrame):
        return obj.index.__getitem__
    return lambda i: i


def _column(value: Any, name: str, source: str) -> tuple[np.ndarray, Callable[[int], Any]]:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {name} must be numeric ({exc})") from exc
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ValueError(f"{source}: {name} must be one-dimensional, got shape {arr.shape}")
    return arr, _labels(value)


def as_rfm_arrays(
    frequency: Any,
    recency: Any,
    T: Any,
    source: str = "input",
    *,
    integer_frequency: bool = True,
    allow_empty: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check and convert lifetimes' inputs to float arrays.

    Parameters
    ----------
    frequency, recency, T : array-like
        Repeat purchase periods, time from the first to the last purchase, time from the first
        purchase to the end of observation; one time unit, one entry per customer.
    source : str
        Name of the input in error messages (a file or table).
    integer_frequency : bool
        Require whole-number frequencies (the purchase models count purchases).
    allow_empty : bool
        Accept zero customers (predictions); fitting needs at least one.

    Returns
    -------
    tuple of ndarray
        ``frequency, recency, T`` as float64.

    Raises
    ------
    ValueError
        Naming the column and the first offending rows (by index label for pandas inputs):
        different lengths, missing or infinite values, negative values, fractional frequency,
        recency above T, or recency other than 0 without repeat purchases.
    """
    x, lx = _column(frequency, "frequency", source)
    tx, ltx = _column(recency, "recency", source)
    t, lt = _column(T, "T", source)
    if not len(x) == len(tx) == len(t):
        raise ValueError(
            f"{source}: frequency, recency and T differ in length ({len(x)}, {len(tx)}, {len(t)})"
        )
    if len(x) == 0 and not allow_empty:
        raise ValueError(f"{source}: no customers")
    for name, arr, lab in (("frequency", x, lx), ("recency", tx, ltx), ("T", t, lt)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{source}: column {name!r} has missing or infinite values in "
                f"{offending_rows(lab, arr, bad)}; customers without a purchase have no RFM "
                "history and must be left out"
            )
        if (arr < 0).any():
            raise ValueError(
                f"{source}: column {name!r} has negative values in {offending_rows(lab, arr, arr < 0)}"
            )
    if integer_frequency and (frac := x != np.round(x)).any():
        raise ValueError(
            f"{source}: column 'frequency' must count repeat purchases (whole numbers); "
            f"fractional in {offending_rows(lx, x, frac)}"
        )
    tol = 1e-9 * np.maximum(1.0, t)
    if (late := tx > t + tol).any():
        shown = np.array([f"{a}>{b}" for a, b in zip(tx[late], t[late], strict=True)])
        full = np.zeros(len(x), dtype=object)
        full[late] = shown
        raise ValueError(
            f"{source}: recency exceeds T (recency>T) in {offending_rows(ltx, full, late)}"
        )
    if (lone := (x == 0) & (tx != 0)).any():
        raise ValueError(
            f"{source}: column 'recency' must be 0 where frequency is 0; it is not in "
            f"{offending_rows(ltx, tx, lone)}"
        )
    return x, np.minimum(tx, t), t


def check_rfm_frame(
    frame: pd.DataFrame, source: str, columns: Sequence[str] = RFM_COLUMNS
) -> pd.DataFrame:
    """Check that ``frame`` has the RFM ``columns``, numeric, and return it.

    Raises
    ------
    ValueError
        Naming ``source`` and the missing or non-numeric columns.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = ", ".join(map(str, list(frame.columns)[:20]))
        raise ValueError(f"{source} has no column(s) {missing} (columns: {shown})")
    text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise ValueError(f"{source}: column(s) {text} are not numeric")
    return frame
