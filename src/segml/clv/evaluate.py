"""Holdout metrics of CLV predictions: purchases and value, as numbers.

Purchases (predicted vs actual holdout purchase periods, per customer):

* ``aggregate_error`` — (Σ predicted − Σ actual) / Σ actual: the bias of the total;
* ``mae``, ``rmse`` — per-customer absolute and root-mean-square errors;
* ``spearman`` — rank correlation of predicted and actual.

Value (predicted vs actual holdout value) adds:

* ``gini_normalised`` — the Gini of actual value when customers are ordered by predicted
  value, divided by its maximum (ordered by actual value): 1 ranks perfectly, 0 is random.
  Customers with tied predictions share their actual value (ties neither help nor hurt);
* ``decile_mape`` — customers split into ten equal groups by predicted value; the mean
  absolute percentage error of each group's mean prediction against its mean actual value,
  averaged over groups (groups whose actual mean is 0 are left out and counted).

Predicted values that do not exist (NaN: Gamma-Gamma's expected spend when ``p x + q <= 1``)
are never scored silently: :func:`value_metrics` raises on them unless asked to leave those
customers out, and then counts them (``left_out``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

__all__ = [
    "PurchaseMetrics",
    "ValueMetrics",
    "decile_table",
    "normalised_gini",
    "purchase_metrics",
    "value_metrics",
]


def _pair(actual: Any, predicted: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    if a.shape != p.shape or a.ndim != 1:
        raise ValueError(f"{what}: actual and predicted differ in shape ({a.shape}, {p.shape})")
    if len(a) == 0:
        raise ValueError(f"{what}: no customers to evaluate")
    for name, v in (("actual", a), ("predicted", p)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{what}: {int((~np.isfinite(v)).sum())} non-finite {name} values")
    return a, p


def _spearman(a: np.ndarray, p: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(p) == 0:
        return float("nan")
    return float(spearmanr(a, p).statistic)


def _relative(pred_total: float, actual_total: float) -> float:
    return (pred_total - actual_total) / actual_total if actual_total else float("nan")


@dataclass(frozen=True)
class PurchaseMetrics:
    """Predicted vs actual holdout purchases (see the module docstring)."""

    n: int
    actual_total: float
    predicted_total: float
    aggregate_error: float
    mae: float
    rmse: float
    spearman: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return asdict(self)


def purchase_metrics(actual: Any, predicted: Any) -> PurchaseMetrics:
    """Metrics of predicted holdout purchases."""
    a, p = _pair(actual, predicted, "purchase metrics")
    err = p - a
    return PurchaseMetrics(
        n=len(a),
        actual_total=float(a.sum()),
        predicted_total=float(p.sum()),
        aggregate_error=_relative(float(p.sum()), float(a.sum())),
        mae=float(np.abs(err).mean()),
        rmse=float(np.sqrt((err**2).mean())),
        spearman=_spearman(a, p),
    )


def _lorenz_area(actual: np.ndarray, order_by: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``order_by`` descending, tied keys sharing their mean."""
    frame = pd.DataFrame({"k": order_by, "a": actual})
    frame["a"] = frame.groupby("k")["a"].transform("mean")
    a = frame.sort_values("k", ascending=False, kind="stable")["a"].to_numpy()
    n, total = len(a), a.sum()
    if total == 0:
        return float("nan")
    return float(np.cumsum(a).sum() / total / n - (n + 1) / (2 * n))


def normalised_gini(actual: Any, predicted: Any) -> float:
    """Gini of ``actual`` ordered by ``predicted``, divided by the Gini ordered by ``actual``."""
    a, p = _pair(actual, predicted, "normalised Gini")
    best = _lorenz_area(a, a)
    return _lorenz_area(a, p) / best if best and np.isfinite(best) else float("nan")


def _defined(
    actual: Any, predicted: Any, what: str, leave_out_undefined: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """The checked pair, less the NaN predictions when asked, and how many were left out."""
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    undefined = np.isnan(p) if leave_out_undefined and p.shape == a.shape else None
    if undefined is not None and undefined.any():
        if undefined.all():
            raise ValueError(f"{what}: all {len(p):,} predicted values are undefined (NaN)")
        a, p = a[~undefined], p[~undefined]
    a, p = _pair(a, p, what)
    return a, p, 0 if undefined is None else int(undefined.sum())


def decile_table(
    actual: Any, predicted: Any, bins: int = 10, *, leave_out_undefined: bool = False
) -> pd.DataFrame:
    """Mean predicted and actual value per group of customers ranked by prediction.

    Parameters
    ----------
    actual, predicted : array-like
        Per customer.
    bins : int
        Number of groups (at most one per customer).
    leave_out_undefined : bool
        Rank only the customers whose prediction is not NaN (an expectation that does not
        exist); default: NaN raises ``ValueError``.

    Returns
    -------
    DataFrame
        ``decile`` (1 = lowest predictions), ``n``, ``predicted_mean``, ``actual_mean``,
        ``ape`` (|predicted − actual| / |actual|, NaN when the actual mean is 0).
    """
    a, p = _defined(actual, predicted, "decile table", leave_out_undefined)[:2]
    bins = min(bins, len(a))
    rank = pd.Series(p).rank(method="first").to_numpy()
    group = np.minimum((rank - 1) * bins // len(a), bins - 1).astype(int) + 1
    frame = pd.DataFrame({"decile": group, "p": p, "a": a})
    out = frame.groupby("decile").agg(n=("a", "size"), predicted_mean=("p", "mean"),
                                      actual_mean=("a", "mean")).reset_index()  # fmt: skip
    denom = out["actual_mean"].abs().replace(0.0, np.nan)
    out["ape"] = (out["predicted_mean"] - out["actual_mean"]).abs() / denom
    return out


@dataclass(frozen=True)
class ValueMetrics:
    """Predicted vs actual holdout value (see the module docstring)."""

    n: int
    actual_total: float
    predicted_total: float
    aggregate_error: float
    mae: float
    rmse: float
    spearman: float
    gini_normalised: float
    decile_mape: float
    deciles_without_actual: int
    deciles: tuple[dict[str, float], ...]
    left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``deciles`` as a list of rows)."""
        out = asdict(self)
        out["deciles"] = [dict(d) for d in self.deciles]
        return out

    def scalars(self) -> dict[str, float]:
        """The numeric metrics only (for flat metric logs)."""
        return {k: float(v) for k, v in self.to_dict().items() if k != "deciles"}


def value_metrics(
    actual: Any, predicted: Any, bins: int = 10, *, leave_out_undefined: bool = False
) -> ValueMetrics:
    """Metrics of predicted holdout value.

    Parameters
    ----------
    actual, predicted : array-like
        Per customer.
    bins : int
        Groups of :func:`decile_table`.
    leave_out_undefined : bool
        Score only the customers whose prediction is not NaN (an expectation that does not
        exist) and count the others in ``left_out``; default: NaN raises ``ValueError``.
    """
    a, p, left_out = _defined(actual, predicted, "value metrics", leave_out_undefined)
    table = decile_table(a, p, bins)
    ape = table["ape"].dropna()
    return ValueMetrics(
        **purchase_metrics(a, p).to_dict(),  # the count metrics apply to value as well
        gini_normalised=normalised_gini(a, p),
        decile_mape=float(ape.mean()) if len(ape) else float("nan"),
        deciles_without_actual=int(table["ape"].isna().sum()),
        deciles=tuple(
            {k: (int(v) if k in ("decile", "n") else float(v)) for k, v in row.items()}
            for row in table.to_dict(orient="records")
        ),
        left_out=left_out,
    )
