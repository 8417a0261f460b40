"""A transaction log checked and split into a calibration RFM summary and holdout actuals.

The calibration period runs to the end of ``calibration_end`` (the whole day, unlike lifetimes'
``calibration_and_holdout_data``, which compares timestamps with midnight and drops that day's
later purchases); the holdout is the following days to the end of ``observation_end``.
Customers are those with a purchase in the calibration period; customers whose first purchase
falls in the holdout are counted (``new_in_holdout``) and left out, as in lifetimes.

Refunds: amounts are netted per customer and period (day, or week with ``freq="W"``; the
calibration end splits a week). A period whose net amount is negative (refunds exceeding
purchases, e.g. a return on a day without purchases) is not a purchase: its rows are left out
of the RFM summary and of the holdout actuals, and counted (``amounts``). A period that nets to
0 is a purchase of value 0 (CDNOW has such purchases).

:func:`naive_baselines` gives the naive forecasts of the holdout that the models are scored
against (:data:`segml.clv.evaluate.NAIVE_BASELINES`), from the same purchases.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segml.clv.evaluate import calibration_rate
from segml.clv.logcheck import ClvDataWarning, parse_day
from segml.clv.value import TimeUnit
from segml.features.rfm import rfm_summary

__all__ = [
    "CalibrationHoldout",
    "calibration_holdout",
    "last_window",
    "naive_baselines",
    "purchase_mask",
]

#: Time units a transaction log can be summarised in (purchases counted per day or per week).
LOG_FREQS = ("D", "W")
#: A Monday: weeks (``freq="W"``) run Monday..Sunday, as in :func:`segml.features.rfm.rfm_summary`.
_MONDAY = pd.Timestamp("2000-01-03")


@dataclass(frozen=True)
class CalibrationHoldout:
    """Calibration RFM summary and holdout actuals of a transaction log.

    Attributes
    ----------
    summary : DataFrame
        Indexed by ``customer_id``: ``frequency, recency, T, monetary_value`` (calibration, in
        ``unit``), ``holdout_purchases`` (distinct purchase periods in the holdout) and
        ``holdout_spend`` (their amount).
    calibration_end, observation_end : date
        Last days of the calibration period and of the holdout.
    holdout_length : float
        Holdout duration in ``unit`` (lifetimes' ``duration_holdout``).
    unit : TimeUnit
        Time unit of the summary.
    first_date, last_date : date
        Span of the log.
    rows : int
        Transactions in the log.
    new_in_holdout : int
        Customers whose first transaction is in the holdout (left out).
    after_observation_end : int
        Transactions after ``observation_end`` (ignored).
    amounts : dict
        Rows with negative and zero amounts, and the periods (customer-days or weeks) whose net
        amount is negative, left out as not purchases, with their rows and net amount, in the
        calibration period and the holdout.
    purchase_rows : ndarray of bool
        Per row of the log: in a purchase period (not a left-out refund period) and not after
        ``observation_end``.
    """

    summary: pd.DataFrame
    calibration_end: dt.date
    observation_end: dt.date
    holdout_length: float
    unit: TimeUnit
    first_date: dt.date
    last_date: dt.date
    rows: int
    new_in_holdout: int
    after_observation_end: int
    amounts: dict[str, Any] = field(default_factory=dict)
    purchase_rows: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The split's description (not the summary), JSON-ready."""
        return {
            "calibration_end": str(self.calibration_end),
            "observation_end": str(self.observation_end),
            "holdout_length": self.holdout_length,
            "unit": self.unit.to_dict(),
            "first_date": str(self.first_date),
            "last_date": str(self.last_date),
            "rows": self.rows,
            "customers": len(self.summary),
            "repeat_buyers": int((self.summary["frequency"] > 0).sum()),
            "new_in_holdout": self.new_in_holdout,
            "after_observation_end": self.after_observation_end,
            "amounts": dict(self.amounts),
        }


def purchase_mask(log: pd.DataFrame, freq: str, segment: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``log`` in purchase periods: periods whose net amount is not negative.

    Parameters
    ----------
    log : DataFrame
        ``customer_id, timestamp, amount``.
    freq : {"D", "W"}
        Period: calendar day, or week (Monday..Sunday).
    segment : ndarray of int, optional
        Parts of the log netted separately (calibration, holdout): a period is split there.

    Returns
    -------
    ndarray of bool
        True for the rows of periods whose amounts sum to 0 or more.
    """
    amount = log["amount"].to_numpy(dtype=float)
    if not (amount < 0).any():
        return np.ones(len(log), dtype=bool)
    day = log["timestamp"].dt.normalize()
    period = day if freq == "D" else (day - _MONDAY).dt.days // 7
    keys = [log["customer_id"].to_numpy(), period.to_numpy()]
    if segment is not None:
        keys.append(np.asarray(segment))
    net = pd.Series(amount).groupby(keys).transform("sum").to_numpy()
    return net >= -1e-9 * np.maximum(1.0, np.abs(amount))  # sums of cents: rounding is not a refund


def calibration_holdout(
    log: pd.DataFrame,
    calibration_end: Any,
    observation_end: Any = None,
    unit: TimeUnit | None = None,
    source: str = "transactions",
) -> CalibrationHoldout:
    """Split a checked log (:func:`segml.clv.logcheck.check_log`) at ``calibration_end``.

    Parameters
    ----------
    log : DataFrame
        ``customer_id, timestamp, amount``.
    calibration_end : date-like
        Last day of the calibration period (inclusive, whole day).
    observation_end : date-like, optional
        Last day of the holdout; default the log's last day.
    unit : TimeUnit, optional
        ``freq`` "D" or "W" and multiplier; default days.
    source : str
        Name of the log in error messages.

    Raises
    ------
    ValueError
        A calibration end before the first or on/after the last day of the log, an observation
        end not after the calibration end or after the log's last day, or an unsupported freq.
    """
    unit = unit or TimeUnit()
    if unit.freq not in LOG_FREQS:
        raise ValueError(f"freq must be one of {LOG_FREQS} for a transaction log, got {unit.freq!r}")  # fmt: skip
    cal = parse_day(calibration_end, "calibration end")
    first, last = log["timestamp"].min().normalize(), log["timestamp"].max().normalize()
    span = f"{first.date()} … {last.date()}"
    if cal < first or cal >= last:
        raise ValueError(
            f"calibration end {cal.date()} is outside {source}'s dates ({span}): it must be on or "
            "after the first day and before the last, so that both periods hold transactions"
        )
    obs = last if observation_end is None else parse_day(observation_end, "observation end")
    if obs <= cal:
        raise ValueError(f"observation end {obs.date()} must be after the calibration end {cal.date()}")  # fmt: skip
    if obs > last:
        raise ValueError(
            f"observation end {obs.date()} is after {source}'s last day {last.date()}: the holdout "
            "would count days without data as days without purchases"
        )
    one_day = pd.Timedelta(days=1)
    in_cal = (log["timestamp"] < cal + one_day).to_numpy()
    in_hold = ~in_cal & (log["timestamp"] < obs + one_day).to_numpy()
    segment = np.where(in_cal, 0, np.where(in_hold, 1, 2))
    buys = purchase_mask(log, unit.freq, segment)
    amounts = _amounts(log, unit.freq, buys, in_cal, in_hold, source)
    if not (buys & in_cal).any():
        raise ValueError(
            f"{source} has no purchases up to the calibration end {cal.date()}: every period's "
            "net amount is negative"
        )
    calib = rfm_summary(
        log[buys & in_cal], "customer_id", "timestamp", "amount", observation_period_end=cal,
        freq=unit.freq, freq_multiplier=unit.multiplier,
    )  # fmt: skip
    hold = log[buys & in_hold & log["customer_id"].isin(calib.index).to_numpy()]
    out = calib.copy()
    out["holdout_purchases"] = 0.0
    out["holdout_spend"] = 0.0
    if len(hold):
        h = rfm_summary(
            hold, "customer_id", "timestamp", "amount", freq=unit.freq,
            include_first_transaction=True,
        )  # fmt: skip
        out.loc[h.index, "holdout_purchases"] = h["frequency"].to_numpy()
        out.loc[h.index, "holdout_spend"] = hold.groupby("customer_id")["amount"].sum()[h.index]
    length = (obs.to_period(unit.freq) - cal.to_period(unit.freq)).n / unit.multiplier
    new = log.loc[buys & in_hold, "customer_id"].drop_duplicates()
    return CalibrationHoldout(
        summary=out,
        calibration_end=cal.date(),
        observation_end=obs.date(),
        holdout_length=float(length),
        unit=unit,
        first_date=first.date(),
        last_date=last.date(),
        rows=len(log),
        new_in_holdout=int((~new.isin(calib.index)).sum()),
        after_observation_end=int((segment == 2).sum()),
        amounts=amounts,
        purchase_rows=buys & (in_cal | in_hold),
    )


def last_window(split: CalibrationHoldout) -> tuple[dt.date, dt.date]:
    """First and last day of the window of the holdout's length (in days) that ends on the
    calibration end: what a customer did there is the "last window" naive forecast."""
    days = (split.observation_end - split.calibration_end).days
    return split.calibration_end - dt.timedelta(days=days - 1), split.calibration_end


def naive_baselines(log: pd.DataFrame, split: CalibrationHoldout) -> pd.DataFrame:
    """Naive forecasts of each customer's holdout purchases and spend.

    Parameters
    ----------
    log : DataFrame
        The log ``split`` was made from (``customer_id, timestamp, amount``); its refund periods
        (``split.purchase_rows``) are left out, as from the models.
    split : CalibrationHoldout
        From :func:`calibration_holdout`.

    Returns
    -------
    DataFrame
        Indexed like ``split.summary``: ``purchases_<key>`` and ``spend_<key>`` for each key of
        :data:`~segml.clv.evaluate.NAIVE_BASELINES`:

        * ``naive_calibration_rate`` — ``frequency / T × holdout_length`` purchases and
          ``frequency × monetary_value / T × holdout_length`` spend
          (:func:`~segml.clv.evaluate.calibration_rate`): calibration-period repeat purchases
          and repeat spend per time unit since the first purchase, times the holdout length;
        * ``naive_last_window`` — purchase periods (days, or weeks with ``freq="W"``) and
          spend in :func:`last_window`, the days of the holdout's length up to the calibration
          end (a window that starts before the log counts from the log's first day).
    """
    s, length = split.summary, split.holdout_length
    out = pd.DataFrame(index=s.index)
    out["purchases_naive_calibration_rate"] = calibration_rate(s["frequency"], s["T"], length)
    out["spend_naive_calibration_rate"] = calibration_rate(
        s["frequency"], s["T"], length, s["monetary_value"]
    )
    if split.purchase_rows is not None and len(split.purchase_rows) == len(log):
        log = log[split.purchase_rows]
    start, end = last_window(split)
    stamp = log["timestamp"]
    rows = log[(stamp >= pd.Timestamp(start)) & (stamp < pd.Timestamp(end) + pd.Timedelta(days=1))]
    day = rows["timestamp"].dt.normalize()
    period = day if split.unit.freq == "D" else (day - _MONDAY).dt.days // 7
    by = rows.assign(period=period.to_numpy()).groupby("customer_id")
    out["purchases_naive_last_window"] = by["period"].nunique().reindex(s.index, fill_value=0).astype(float)  # fmt: skip
    out["spend_naive_last_window"] = by["amount"].sum().reindex(s.index, fill_value=0.0).astype(float)  # fmt: skip
    return out


def _amounts(
    log: pd.DataFrame, freq: str, buys: np.ndarray, in_cal: np.ndarray, in_hold: np.ndarray,
    source: str,
) -> dict[str, Any]:  # fmt: skip
    """Counts of non-positive amounts and of the refund periods left out; warns about the latter."""
    amount = log["amount"].to_numpy(dtype=float)
    out: dict[str, Any] = {
        "negative_rows": int((amount < 0).sum()),
        "zero_rows": int((amount == 0).sum()),
        "treatment": "netted per customer and period; periods with a negative net are not "
        "purchases and are left out; zero amounts are purchases of value 0",
    }
    day = log["timestamp"].dt.normalize()
    period = (day if freq == "D" else (day - _MONDAY).dt.days // 7).to_numpy()
    said, n = [], 0
    for name, part in (("calibration", in_cal), ("holdout", in_hold)):
        gone = part & ~buys
        periods = len(set(zip(log["customer_id"].to_numpy()[gone], period[gone], strict=True)))
        total = float(amount[gone].sum())
        out[f"left_out_{name}"] = {"periods": periods, "rows": int(gone.sum()), "net_amount": total}
        n += periods
        said.append(f"{periods:,} in the {name} period (net {total:,.2f})")
    if n:
        unit = "customer-days" if freq == "D" else "customer-weeks"
        warnings.warn(
            f"{source}: {n:,} {unit} with a negative net amount (refunds exceeding purchases) are "
            f"not purchases and were left out of the models and the holdout actuals: "
            f"{', '.join(said)}",
            ClvDataWarning,
            stacklevel=3,
        )
    return out
