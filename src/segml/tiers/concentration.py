"""Value concentration: Lorenz curve, Gini coefficient and the weight of loss-makers.

Conventions (see docs/tiers.md):

* The Lorenz curve sorts customers by value *ascending*; point *k* is
  ``(k / n, sum of the k lowest values / total value)``, from (0, 0) to (1, 1).
* The Gini coefficient is ``1 - 2 * (area under the Lorenz curve)`` with the trapezoid rule,
  i.e. ``G = 2 * sum(i * x_(i)) / (n * sum(x)) - (n + 1) / n`` with ``x_(1) <= ... <= x_(n)``:
  0 when all values are equal, ``(n - 1) / n`` when one customer holds everything.
* Negative values (loss-makers) are allowed as they are: the Lorenz curve then dips below 0
  and G can exceed 1. :func:`concentration` reports that Gini, the Gini on values clipped at
  0 (within [0, (n - 1) / n]) and the share of loss-makers, so neither hides the other. G is
  undefined (NaN) when the total value is ≤ 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd


def _values(values: pd.Series | np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float).reshape(-1)
    if np.isnan(v).any():
        raise ValueError(f"values have {int(np.isnan(v).sum())} NaN value(s)")
    return v


def lorenz_curve(values: pd.Series | np.ndarray) -> pd.DataFrame:
    """Lorenz curve of value over customers, sorted by value ascending.

    Parameters
    ----------
    values : array-like of float
        Value per customer (negative values allowed).

    Returns
    -------
    pandas.DataFrame
        ``n + 1`` rows with ``customer_share`` (x, 0 to 1) and ``value_share`` (y, cumulative
        share of the total value, 0 to 1; below 0 where loss-makers come first). All NaN
        ``value_share`` when the total is 0.
    """
    v = np.sort(_values(values))
    n, total = len(v), v.sum()
    x = np.arange(n + 1) / max(n, 1)
    cum = np.concatenate([[0.0], np.cumsum(v)])
    y = cum / total if total != 0 else np.full(n + 1, np.nan)
    return pd.DataFrame({"customer_share": x, "value_share": y})


def gini(values: pd.Series | np.ndarray, *, negatives: Literal["allow", "clip"] = "allow") -> float:
    """Gini coefficient of value over customers.

    Parameters
    ----------
    values : array-like of float
        Value per customer.
    negatives : {"allow", "clip"}
        ``"allow"``: negative values count as they are (G may exceed 1); ``"clip"``: they
        count as 0 (G within [0, (n - 1) / n]).

    Returns
    -------
    float
        ``2 * sum(i * x_(i)) / (n * sum(x)) - (n + 1) / n``; NaN when there are no values or
        their total is ≤ 0.
    """
    v = _values(values)
    if negatives == "clip":
        v = np.clip(v, 0.0, None)
    elif negatives != "allow":
        raise ValueError(f"negatives must be 'allow' or 'clip', got {negatives!r}")
    n, total = len(v), v.sum()
    if n == 0 or total <= 0:
        return float("nan")
    x = np.sort(v)
    i = np.arange(1, n + 1)
    return float(2.0 * np.sum(i * x) / (n * total) - (n + 1) / n)


def top_share(values: pd.Series | np.ndarray, customer_share: float) -> float:
    """Share of the total value held by the top ``customer_share`` of customers by value.

    Parameters
    ----------
    values : array-like of float
        Value per customer.
    customer_share : float
        In (0, 1]; the top ``ceil(customer_share * n)`` customers count.

    Returns
    -------
    float
        Their value over the net total (NaN when the total is 0).
    """
    if not 0 < customer_share <= 1:
        raise ValueError(f"customer_share must be in (0, 1], got {customer_share}")
    v = np.sort(_values(values))[::-1]
    total = v.sum()
    k = int(np.ceil(customer_share * len(v) - 1e-9))
    return float(v[:k].sum() / total) if total != 0 else float("nan")


@dataclass(frozen=True)
class Concentration:
    """How concentrated value is.

    Attributes
    ----------
    customers : int
        Number of customers.
    total_value, positive_value, loss_value : float
        Net total, sum of positive values, sum of negative values (≤ 0).
    gini : float
        Gini with negative values as they are (may exceed 1; NaN if the total is ≤ 0).
    gini_positive : float
        Gini on values clipped at 0.
    loss_customer_share : float
        Share of customers with value < 0.
    loss_value_ratio : float
        ``-loss_value / positive_value``: the share of positive value that loss-makers
        give back.
    top_1pct_share, top_20pct_share : float
        Share of the net total value held by the top 1% and 20% of customers.
    """

    customers: int
    total_value: float
    positive_value: float
    loss_value: float
    gini: float
    gini_positive: float
    loss_customer_share: float
    loss_value_ratio: float
    top_1pct_share: float
    top_20pct_share: float

    def to_dict(self) -> dict[str, float | int]:
        """The figures as a dict."""
        return asdict(self)


def concentration(values: pd.Series | np.ndarray) -> Concentration:
    """Concentration figures of a value score (see the module docstring for conventions).

    Parameters
    ----------
    values : array-like of float
        Value per customer.

    Returns
    -------
    Concentration
    """
    v = _values(values)
    n = len(v)
    pos, neg = float(v[v > 0].sum()), float(v[v < 0].sum())
    nan = float("nan")
    return Concentration(
        customers=n,
        total_value=float(v.sum()),
        positive_value=pos,
        loss_value=neg,
        gini=gini(v),
        gini_positive=gini(v, negatives="clip"),
        loss_customer_share=float((v < 0).mean()) if n else nan,
        loss_value_ratio=-neg / pos if pos > 0 else nan,
        top_1pct_share=top_share(v, 0.01) if n else nan,
        top_20pct_share=top_share(v, 0.20) if n else nan,
    )
