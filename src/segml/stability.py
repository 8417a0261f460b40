"""Seed stability: how far a model's predictions move when it is fitted again with another seed.

A boosted model with row and column subsampling is a draw: fitted again with the next seed, a
sound model predicts nearly the same total and ranks customers nearly alike, while an unstable
one (too little data for its size, a heavy-tailed target) does not. The CLV, churn and value
methods refit their models with ``seed + 1`` and record :func:`seed_stability` among their
metrics (``stability.*``); the review pack lists a model beyond :data:`UNSTABLE` first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["UNSTABLE", "seed_stability", "unstable"]

#: A model is unstable when, fitted again with the next seed, its predicted total moves by more
#: than 10 % or the two rankings correlate below 0.9.
UNSTABLE = {"total_change": 0.10, "spearman": 0.90}


def seed_stability(first: np.ndarray, again: np.ndarray) -> dict[str, float]:
    """How a model's predictions moved when it was refitted with another seed.

    Returns
    -------
    dict
        ``total_change``: the relative change of the predicted total (NaN when the first total
        is 0); ``spearman``: the rank correlation of the two predictions (NaN when one is
        constant).

    Examples
    --------
    >>> seed_stability(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.5]))
    {'total_change': 0.25, 'spearman': 1.0}
    """
    a, b = np.asarray(first, dtype=float), np.asarray(again, dtype=float)
    total = float(a.sum())
    change = float((b.sum() - total) / abs(total)) if total != 0 else float("nan")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        rho = float("nan")
    else:
        rho = float(pd.Series(a).rank().corr(pd.Series(b).rank()))
    return {"total_change": change, "spearman": rho}


def unstable(total_change: float | None, spearman: float | None) -> bool:
    """Whether a model's :func:`seed_stability` is beyond :data:`UNSTABLE`.

    Examples
    --------
    >>> unstable(0.02, 0.97), unstable(-0.15, 0.99), unstable(0.0, 0.8), unstable(None, None)
    (False, True, True, False)
    """
    moved = total_change is not None and abs(total_change) > UNSTABLE["total_change"]
    return moved or (spearman is not None and spearman < UNSTABLE["spearman"])
