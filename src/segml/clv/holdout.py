"""A transaction log checked and split into a calibration RFM summary and holdout actuals.

The calibration period runs to the end of ``calibration_end`` (the whole day, unlike lifetimes'
``calibration_and_holdout_data``, which compares timestamps with midnight and drops that day's
later purchases); the holdout is the following days to the end of ``observation_end``.
Customers are those with a purchase in the calibration period; customers whose first purchase
falls in the holdout are counted (``new_in_holdout``) and left out, as in lifetimes.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segml.clv.data import offenders
from segml.clv.value import TimeUnit
from segml.features.rfm import rfm_summary

__all__ = ["CalibrationHoldout", "calibration_holdout", "check_log", "parse_day"]

#: Time units a transaction log can be summarised in (purchases counted per day or per week).
LOG_FREQS = ("D", "W")


def parse_day(value: Any, what: str) -> pd.Timestamp:
    """A date (midnight) from text, date or timestamp; ``ValueError`` naming ``what``."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} {value!r} is not a date") from exc
    if ts is pd.NaT:
        raise ValueError(f"{what} {value!r} is not a date")
    return (ts.tz_localize(None) if ts.tzinfo else ts).normalize()


def _parse_dates(text: pd.Series, date_format: str | None) -> pd.Series:
    """Dates from text: ``date_format`` if given, else ISO 8601 (dates with or without times),
    else the format pandas infers from the first value — whichever reads more values."""
    if date_format:
        return pd.to_datetime(text, errors="coerce", format=date_format)
    best = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if best.isna().sum() > text.isna().sum():
        with warnings.catch_warnings():  # pandas warns when it cannot infer a format
            warnings.simplefilter("ignore", UserWarning)
            inferred = pd.to_datetime(text, errors="coerce")
        if inferred.isna().sum() < best.isna().sum():
            best = inferred
    return best


def check_log(
    log: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    source: str = "transactions",
    date_format: str | None = None,
) -> pd.DataFrame:
    """Check a transaction log and return it as ``customer_id, timestamp, amount``.

    Parameters
    ----------
    log : DataFrame
        One row per transaction.
    customer_col, date_col, amount_col : str
        Its customer id, date (or timestamp) and amount columns.
    source : str
        Name of the log (a file) in error messages.
    date_format : str, optional
        ``strftime`` format of text dates; default ISO 8601 (``2020-01-31``, ``2020-01-31
        08:30``), else the format pandas infers from the first value.

    Returns
    -------
    DataFrame
        ``customer_id`` (text), ``timestamp`` (datetime64, naive) and ``amount`` (float).

    Raises
    ------
    ValueError
        Naming ``source``, the column and the offending values: missing columns, empty log,
        missing ids, missing or unparseable dates, missing or non-numeric amounts.
    """
    missing = [c for c in (customer_col, date_col, amount_col) if c not in log.columns]
    if missing:
        shown = ", ".join(map(str, list(log.columns)[:20]))
        raise ValueError(f"{source} has no column(s) {missing} (columns: {shown})")
    if len(log) == 0:
        raise ValueError(f"{source} has no rows")
    labels = [f"row {i}" for i in range(len(log))]
    ids = log[customer_col]
    if (bad := ids.isna().to_numpy()).any():
        raise ValueError(f"{source}: column {customer_col!r} is empty in {offenders(labels, ids.to_numpy(), bad)}")  # fmt: skip
    raw = log[date_col]
    if pd.api.types.is_datetime64_any_dtype(raw):
        ts = raw
    else:
        text = raw.astype("string")
        ts = _parse_dates(text, date_format)
        bad = (ts.isna() & text.notna()).to_numpy()
        if bad.any():
            raise ValueError(
                f"{source}: column {date_col!r} has values that are not dates"
                f"{f' in format {date_format!r}' if date_format else ''}: "
                f"{offenders(labels, text.to_numpy(dtype=object), bad)}"
            )
    if getattr(ts.dtype, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)
    if (bad := ts.isna().to_numpy()).any():
        raise ValueError(f"{source}: column {date_col!r} is empty in {offenders(labels, raw.to_numpy(dtype=object), bad)}")  # fmt: skip
    amount = log[amount_col]
    if not pd.api.types.is_numeric_dtype(amount) or pd.api.types.is_bool_dtype(amount):
        num = pd.to_numeric(amount, errors="coerce")
        bad = (num.isna() & amount.notna()).to_numpy()
        if bad.any():
            raise ValueError(
                f"{source}: column {amount_col!r} has non-numeric values: "
                f"{offenders(labels, amount.to_numpy(dtype=object), bad)}"
            )
        amount = num
    amount = amount.astype(float)
    if (bad := ~np.isfinite(amount.to_numpy())).any():
        raise ValueError(f"{source}: column {amount_col!r} is missing or infinite in {offenders(labels, amount.to_numpy(), bad)}")  # fmt: skip
    return pd.DataFrame(
        {
            "customer_id": ids.astype(str).to_numpy(),
            "timestamp": ts.to_numpy(),
            "amount": amount.to_numpy(),
        }
    )


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
        }


def calibration_holdout(
    log: pd.DataFrame,
    calibration_end: Any,
    observation_end: Any = None,
    unit: TimeUnit | None = None,
    source: str = "transactions",
) -> CalibrationHoldout:
    """Split a checked log (:func:`check_log`) at ``calibration_end``.

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
    in_cal = log["timestamp"] < cal + one_day
    in_hold = ~in_cal & (log["timestamp"] < obs + one_day)
    calib = rfm_summary(
        log[in_cal], "customer_id", "timestamp", "amount", observation_period_end=cal,
        freq=unit.freq, freq_multiplier=unit.multiplier,
    )  # fmt: skip
    hold = log[in_hold & log["customer_id"].isin(calib.index)]
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
    new = log.loc[in_hold, "customer_id"].drop_duplicates()
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
        after_observation_end=int((log["timestamp"] >= obs + one_day).sum()),
    )
