"""Value scores to tier on: current profit, a predicted CLV, or a blend with potential.

A tier policy ranks any numeric score. Three sources are usual:

* current annual profit, the feature ``profit_12m`` (CNY/year);
* a predicted customer lifetime value, a column the caller adds (CNY);
* a blend of value with potential (share of wallet still to win):
  ``value = w * profit + (1 - w) * potential`` (:func:`blend_value`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import rankdata

BlendScale = Literal["rank", "money"]


def rank_normalise(x: pd.Series | np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value: ``(average rank - 0.5) / n``, in (0, 1).

    Parameters
    ----------
    x : array-like of float
        Values; NaN is rejected.

    Returns
    -------
    numpy.ndarray
        Percentiles; equal values share the same percentile, so the result does not depend
        on the order of the input.
    """
    v = np.asarray(x, dtype=float).reshape(-1)
    if np.isnan(v).any():
        raise ValueError(f"cannot rank {int(np.isnan(v).sum())} NaN value(s)")
    if len(v) == 0:
        return v
    return (rankdata(v, method="average") - 0.5) / len(v)


def blend_value(
    profit: pd.Series | np.ndarray,
    potential: pd.Series | np.ndarray,
    weight: float = 0.7,
    scale: BlendScale = "rank",
) -> np.ndarray:
    """Blend current value with potential: ``w * profit + (1 - w) * potential``.

    Parameters
    ----------
    profit : array-like of float
        Current value, e.g. ``profit_12m`` or a predicted CLV.
    potential : array-like of float
        Potential, e.g. the estimated profit of the share of wallet the bank does not yet
        hold (wallet estimate × (1 − share of wallet)).
    weight : float
        ``w`` in [0, 1], the weight of current value.
    scale : {"rank", "money"}
        ``"rank"``: both inputs are first turned into mid-rank percentiles in (0, 1)
        (:func:`rank_normalise`), so the blend is a unit-free score in (0, 1) — use it with
        rank policies; its concentration (Gini, value shares) is not money and there are no
        loss-makers. ``"money"``: both inputs must already be money per year on the same
        scale (CNY/year); the blend stays money and can be negative.

    Returns
    -------
    numpy.ndarray
        The blended score per customer, in input order.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    p = np.asarray(profit, dtype=float).reshape(-1)
    q = np.asarray(potential, dtype=float).reshape(-1)
    if p.shape != q.shape:
        raise ValueError(f"profit and potential differ in length: {len(p)} vs {len(q)}")
    if scale == "rank":
        p, q = rank_normalise(p), rank_normalise(q)
    elif scale != "money":
        raise ValueError(f"scale must be 'rank' or 'money', got {scale!r}")
    elif np.isnan(p).any() or np.isnan(q).any():
        raise ValueError("profit and potential must not contain NaN")
    return weight * p + (1.0 - weight) * q
