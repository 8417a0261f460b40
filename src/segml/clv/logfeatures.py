"""Point-in-time customer features from a bare transaction log (for the supervised CLV model).

A bank has the feature table of :mod:`segml.features`; an arbitrary purchase log has only
customer, date and amount. :func:`log_features` derives, at a cut date ``t`` and from the
transactions dated on or before ``t`` only, what can be: lifetimes' RFM in days, recency and
counts/amounts in trailing windows, and amount statistics.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from segml.features.rfm import rfm_summary

__all__ = ["LOG_WINDOWS", "log_features", "log_window_spend"]

#: Trailing windows in days.
LOG_WINDOWS = (30, 90, 365)


def log_features(log: pd.DataFrame, cut: dt.date | Any, windows: tuple[int, ...] = LOG_WINDOWS) -> pd.DataFrame:  # fmt: skip
    """Features at the end of day ``cut`` of every customer with a transaction by then.

    Parameters
    ----------
    log : DataFrame
        ``customer_id, timestamp, amount`` (:func:`segml.clv.logcheck.check_log`).
    cut : date-like
        The as-of day (inclusive).
    windows : tuple of int
        Trailing windows in days.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: ``frequency, recency, T, monetary_value`` (days),
        ``days_since_last``, ``n_tx_total``, ``amount_total``, ``amount_mean``, ``amount_max``,
        ``active_days_share`` and ``n_tx_<w>d``, ``amount_<w>d`` per window.
    """
    day = pd.Timestamp(cut).normalize()
    end = day + pd.Timedelta(days=1)
    past = log[log["timestamp"] < end]
    if past.empty:
        return pd.DataFrame(index=pd.Index([], name="customer_id"))
    out = rfm_summary(past, "customer_id", "timestamp", "amount", observation_period_end=day)
    g = past.groupby("customer_id")["amount"]
    out["days_since_last"] = out["T"] - out["recency"]
    out["n_tx_total"] = g.size().reindex(out.index).astype(float)
    out["amount_total"] = g.sum().reindex(out.index)
    out["amount_mean"] = g.mean().reindex(out.index)
    out["amount_max"] = g.max().reindex(out.index)
    out["active_days_share"] = (out["frequency"] + 1) / (out["T"] + 1)
    for w in windows:
        recent = past[past["timestamp"] >= end - pd.Timedelta(days=w)].groupby("customer_id")
        out[f"n_tx_{w}d"] = recent.size().reindex(out.index, fill_value=0).astype(float)
        out[f"amount_{w}d"] = recent["amount"].sum().reindex(out.index, fill_value=0.0)
    return out.astype(np.float64)


def log_window_spend(log: pd.DataFrame, start: Any, end: Any, index: pd.Index) -> pd.Series:
    """Amount per customer (of ``index``) dated on days ``start`` … ``end`` inclusive (0 if none)."""
    lo = pd.Timestamp(start).normalize()
    hi = pd.Timestamp(end).normalize() + pd.Timedelta(days=1)
    rows = log[(log["timestamp"] >= lo) & (log["timestamp"] < hi)]
    return rows.groupby("customer_id")["amount"].sum().reindex(index, fill_value=0.0)
