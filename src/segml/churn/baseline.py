"""The BG/NBD baseline: churn score = 1 − P(alive), from the RFM columns of the feature table.

The purchase model (:class:`segml.clv.PurchaseModel`) is unsupervised: it is fitted on the RFM
summary at a date (``frequency`` in repeat active days, ``recency`` and ``T`` in days, converted
to ``time_unit_days``-day periods, weeks by default) and gives each customer's probability of
still being active then. It sees the transaction history only, never a label, so fitting it on
the customers it scores uses nothing from the future. Customers without a customer-initiated
transaction (``T`` missing) have no RFM history: their P(alive) is missing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PAliveBaseline", "p_alive_baseline"]

RFM_COLUMNS = ("frequency", "recency", "T")


@dataclass(frozen=True)
class PAliveBaseline:
    """P(alive) of each row and the fitted BG/NBD model's description.

    Attributes
    ----------
    p_alive : ndarray
        One value per input row; NaN where the customer has no RFM history.
    params : dict of str to float
        BG/NBD parameters (``alpha`` in ``time_unit_days``-day periods).
    n_fitted : int
        Customers the model was fitted on.
    n_missing : int
        Rows without RFM history.
    time_unit_days : float
        Length of the model's period in days.
    penalizer : float
        L2 penalizer of the kept fit (larger than asked when the plain fit did not converge).
    warnings : tuple of str
        Warnings the fit raised (e.g. convergence only with a penalizer).
    """

    p_alive: np.ndarray = field(repr=False)
    params: dict[str, float]
    n_fitted: int
    n_missing: int
    time_unit_days: float
    penalizer: float = 0.0
    warnings: tuple[str, ...] = ()

    def churn_score(self, fill: float | None = None) -> np.ndarray:
        """``1 − p_alive``; missing values become ``fill`` (default: the median score)."""
        s = 1.0 - self.p_alive
        ok = np.isfinite(s)
        median = float(np.median(s[ok])) if ok.any() else 0.0
        value = median if fill is None else float(fill)
        return np.where(ok, s, value)

    def to_dict(self) -> dict[str, Any]:
        """Description without the per-row values."""
        return {
            "model": "BG/NBD (segml.clv.PurchaseModel)",
            "params": self.params,
            "n_fitted": self.n_fitted,
            "n_missing": self.n_missing,
            "time_unit_days": self.time_unit_days,
            "penalizer": self.penalizer,
            "warnings": list(self.warnings),
        }


def p_alive_baseline(
    features: pd.DataFrame, time_unit_days: float = 7.0, penalizer: float = 0.0
) -> PAliveBaseline:
    """Fit BG/NBD on the rows' RFM summary and return their P(alive).

    Parameters
    ----------
    features : DataFrame
        Rows with ``frequency`` (repeat active days), ``recency`` and ``T`` (days), e.g. the
        feature table of one date.
    time_unit_days : float
        Days per model period (7: weeks).
    penalizer : float
        L2 penalizer of the fit.

    Raises
    ------
    ValueError
        If a column is missing, or no row has an RFM history.
    """
    from segml.clv import PurchaseModel

    missing = [c for c in RFM_COLUMNS if c not in features.columns]
    if missing:
        raise ValueError(f"the feature table lacks the RFM column(s) {missing}")
    x = pd.to_numeric(features["frequency"], errors="coerce").to_numpy(dtype=float)
    tx = pd.to_numeric(features["recency"], errors="coerce").to_numpy(dtype=float)
    t = pd.to_numeric(features["T"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(tx) & np.isfinite(t)
    if not ok.any():
        raise ValueError("no customer has an RFM history (T is missing for every row)")
    u = float(time_unit_days)
    model = PurchaseModel(kind="bgnbd", penalizer=penalizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x[ok], tx[ok] / u, t[ok] / u)
    report = getattr(model, "fit_report_", None)
    p = np.full(len(features), np.nan)
    p[ok] = model.p_alive(x[ok], tx[ok] / u, t[ok] / u)
    return PAliveBaseline(
        p_alive=p,
        params={k: float(v) for k, v in model.params_.items()},
        n_fitted=int(ok.sum()),
        n_missing=int((~ok).sum()),
        time_unit_days=u,
        penalizer=float(getattr(report, "penalizer", penalizer)),
        warnings=tuple(str(w.message) for w in caught),
    )
