"""Metrics a model validator asks of a churn score, all computed on held-out rows.

Discrimination: ROC AUC and PR AUC (average precision). Probability quality: Brier score,
log loss, the calibration table (equal-count bins of the predicted probability, observed rate
with a Wilson 95% interval) and the expected calibration error. Targeting: lift and capture in
the top decile (the 10% of customers with the highest score). :func:`risk_deciles` turns a
score into deciles, 1 = highest risk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "METRIC_NAMES",
    "calibration_table",
    "classification_metrics",
    "expected_calibration_error",
    "lift_capture",
    "risk_deciles",
]

#: Keys of :func:`classification_metrics`, in order.
METRIC_NAMES = (
    "n",
    "positives",
    "positive_rate",
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "lift_top10",
    "capture_top10",
    "ece",
    "mean_prediction",
)

_EPS = 1e-15


def _check(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray) -> tuple:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {p.shape} must be 1-D of equal length")
    if len(y) and not np.isin(y, (0.0, 1.0)).all():
        bad = np.unique(y[~np.isin(y, (0.0, 1.0))])[:5]
        raise ValueError(f"labels must be 0/1, found {bad.tolist()}")
    if np.isnan(p).any():
        raise ValueError(f"{int(np.isnan(p).sum())} scores are NaN")
    return y, p


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def _ap(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def lift_capture(
    y: Sequence[float] | np.ndarray, score: Sequence[float] | np.ndarray, top: float = 0.1
) -> tuple[float, float]:
    """Lift and capture in the ``top`` share of rows by descending ``score``.

    Parameters
    ----------
    y : array of 0/1
        Outcomes.
    score : array
        Risk scores (higher = more likely positive).
    top : float
        Share of rows targeted (``ceil(top * n)`` rows; ties broken by row order).

    Returns
    -------
    (float, float)
        ``lift`` = positive rate in the top / overall positive rate, and ``capture`` = share
        of all positives found in the top. NaN when there is no positive.
    """
    y, s = _check(y, score)
    if not 0 < top <= 1:
        raise ValueError(f"top must be in (0, 1], got {top}")
    n, pos = len(y), y.sum()
    if n == 0 or pos == 0:
        return float("nan"), float("nan")
    k = max(1, math.ceil(top * n))
    idx = np.argsort(-s, kind="stable")[:k]
    hit = y[idx].sum()
    return float((hit / k) / (pos / n)), float(hit / pos)


def calibration_table(
    y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, bins: int = 10
) -> pd.DataFrame:
    """Reliability table: equal-count bins of the predicted probability.

    Returns
    -------
    DataFrame
        One row per bin (lowest predictions first): ``bin`` (1..), ``n``, ``p_min``,
        ``p_max``, ``predicted`` (mean predicted probability), ``observed`` (positive rate),
        ``observed_low`` and ``observed_high`` (Wilson 95% interval), ``gap`` (observed −
        predicted).
    """
    y, p = _check(y, p)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    order = np.argsort(p, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, min(bins, max(len(p), 1))), start=1):
        if len(idx) == 0:
            continue
        n, k = len(idx), float(y[idx].sum())
        rate = k / n
        z = 1.959963984540054
        centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        pred = float(p[idx].mean())
        rows.append(
            {
                "bin": i,
                "n": n,
                "p_min": float(p[idx].min()),
                "p_max": float(p[idx].max()),
                "predicted": pred,
                "observed": rate,
                # rounding may put the bound a hair beyond a rate of exactly 0 or 1
                "observed_low": min(rate, max(0.0, centre - half)),
                "observed_high": max(rate, min(1.0, centre + half)),
                "gap": rate - pred,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "bin",
            "n",
            "p_min",
            "p_max",
            "predicted",
            "observed",
            "observed_low",
            "observed_high",
            "gap",
        ],
    )


def expected_calibration_error(
    y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, bins: int = 10
) -> float:
    """Σ over equal-count bins of (bin share × |observed − mean predicted|)."""
    table = calibration_table(y, p, bins)
    if table.empty:
        return float("nan")
    return float((table["n"] * table["gap"].abs()).sum() / table["n"].sum())


def classification_metrics(
    y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, top: float = 0.1
) -> dict[str, float]:
    """Discrimination, probability and targeting metrics of probabilities ``p`` for 0/1 ``y``.

    Parameters
    ----------
    y : array of 0/1
        Realised outcomes of held-out rows.
    p : array of float in [0, 1]
        Predicted probabilities (a score that is not a probability still gives valid AUCs,
        lift and capture; its Brier score and log loss are then meaningless).
    top : float
        Targeted share for lift and capture.

    Returns
    -------
    dict
        The keys of :data:`METRIC_NAMES`: ``n``, ``positives``, ``positive_rate``,
        ``roc_auc``, ``pr_auc`` (average precision), ``brier`` (mean squared error),
        ``log_loss`` (mean negative log-likelihood, probabilities clipped to [1e-15, 1 − 1e-15]),
        ``lift_top10`` and ``capture_top10`` (for ``top``), ``ece`` (10 equal-count bins) and
        ``mean_prediction``. AUCs are NaN with a single class.
    """
    y, p = _check(y, p)
    n = len(y)
    if n == 0:
        return {k: (0.0 if k in ("n", "positives") else float("nan")) for k in METRIC_NAMES}
    q = np.clip(p, _EPS, 1 - _EPS)
    lift, capture = lift_capture(y, p, top)
    return {
        "n": float(n),
        "positives": float(y.sum()),
        "positive_rate": float(y.mean()),
        "roc_auc": _auc(y, p),
        "pr_auc": _ap(y, p),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))),
        "lift_top10": lift,
        "capture_top10": capture,
        "ece": expected_calibration_error(y, p),
        "mean_prediction": float(p.mean()),
    }


def risk_deciles(score: Sequence[float] | np.ndarray) -> np.ndarray:
    """Decile of each score, 1 = the 10% highest (ties broken by row order); 0 rows: empty."""
    s = np.asarray(score, dtype=float)
    n = len(s)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-s, kind="stable")] = np.arange(1, n + 1)
    return np.ceil(rank * 10 / n).astype(np.int64)
