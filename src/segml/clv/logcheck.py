"""Checking a user's transaction log: ids, dates (time zones included), amounts, with line numbers.

:func:`check_log` turns a CSV/Parquet log or DataFrame into ``customer_id, timestamp, amount``
and says, for every problem, which column and which lines of the file (the header is line 1)
or rows (0-based, for Parquet and DataFrames). :func:`segml.clv.holdout.calibration_holdout`
splits the checked log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segml.contract import MAX_MONEY, MIN_DATE, isolated_day_edges
from segml.tables import offending_rows
from segml.textcols import parse_numbers

__all__ = ["ClvDataWarning", "check_dates", "check_log", "parse_day"]

#: An ISO 8601 timestamp with a time and a UTC offset: (wall-clock part, offset).
_OFFSET = re.compile(
    r"^(?P<wall>.*\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)$"
)


class ClvDataWarning(UserWarning):
    """Something in a transaction log that segml handled in a documented way (refunds, zones)."""


class _RowLabels(Sequence[str]):
    """Row names for messages, built only for the rows shown."""

    def __init__(self, n: int, label: Callable[[int], str]) -> None:
        self._n, self._label = n, label

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._label(j) for j in range(*i.indices(self._n))]
        return self._label(int(i))


def _zero_based(i: int) -> str:
    return f"row {i} (0-based)"


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


def _mixed_zones(
    text: pd.Series, date_format: str | None, source: str, column: str, labels: Sequence[str]
) -> pd.Series:
    """Dates of a text column whose values carry different UTC offsets, at their wall-clock time.

    Each value is read as written without its offset (``2024-03-31T01:30+02:00`` is 01:30 on
    March 31), which is what :func:`check_log` does for a column in one time zone; a warning
    names the offsets found. Raises ``ValueError`` (naming ``source``, ``column`` and rows) when
    the offsets cannot be separated from the text (a ``date_format``, or zone names).
    """
    parts = text.str.extract(_OFFSET)
    present = text.notna().to_numpy()  # missing dates are reported later, as missing
    firsts = parts["offset"].fillna("none").reset_index(drop=True)[present].drop_duplicates()
    shown = ", ".join(
        f"{labels[int(i)]}={text.iloc[int(i)]!r} ({'no offset' if o == 'none' else o})"
        for i, o in firsts.iloc[:4].items()
    )
    more = f" and {len(firsts) - 4} more" if len(firsts) > 4 else ""
    ts = None
    if date_format is None and parts["offset"].notna().any():
        with contextlib.suppress(ValueError):
            ts = _parse_dates(parts["wall"].fillna(text).astype("string"), None)
    if ts is None or getattr(ts.dtype, "tz", None) is not None:
        raise ValueError(
            f"{source}: column {column!r} mixes time zones ({shown}{more}); purchases are counted "
            "per calendar day and the day depends on the zone: convert the column to one time "
            "zone (or write local times without offsets) and run again"
        )
    if len(firsts) > 1:
        warnings.warn(
            f"{source}: column {column!r} mixes UTC offsets ({shown}{more}): each timestamp is "
            "taken at its local (wall-clock) time as written, offsets dropped — as for a column "
            "in one time zone — so purchases fall on the calendar day written in the file; "
            "convert the column to one zone first to count days in that zone",
            ClvDataWarning,
            stacklevel=3,
        )
    return ts


def check_dates(
    ts: pd.Series,
    raw: pd.Series,
    labels: Sequence[str],
    where: str,
    reference_date: dt.date | None = None,
) -> None:
    """Refuse dates in the future, before :data:`~segml.contract.MIN_DATE` or isolated.

    Isolated dates (:func:`segml.contract.isolated_day_edges`: a gap wider than three times
    the middle half of the log's dates, and than a year, separates them from all others) are
    errors here, not warnings as in ``segml validate``: the log's first and last days set the
    periods (the holdout ends on the last day by default, the supervised model needs history
    before its training date), so one stray date would change every customer's numbers.

    Parameters
    ----------
    ts : Series of datetime64
        The parsed dates (no missing values).
    raw : Series
        The values as read, quoted in messages.
    labels : sequence of str
        Names of the rows, by 0-based position.
    where : str
        The file and column, for messages.
    reference_date : date, optional
        Dates after it are in the future; default tomorrow by the machine's clock.

    Raises
    ------
    ValueError
        Naming ``where``, the rule and the first offending rows with their values.
    """
    shown = raw.to_numpy(dtype=object)
    ref = reference_date or dt.date.today() + dt.timedelta(days=1)
    day = ts.dt.normalize()
    if (bad := (day > pd.Timestamp(ref)).to_numpy()).any():
        raise ValueError(f"{where} has dates in the future (after {ref}): {offending_rows(labels, shown, bad)}")  # fmt: skip
    if (bad := (day < pd.Timestamp(MIN_DATE)).to_numpy()).any():
        raise ValueError(
            f"{where} has dates before {MIN_DATE} (placeholders such as 1899-12-30 or typos): "
            f"{offending_rows(labels, shown, bad)}"
        )
    counts = day.value_counts().sort_index()
    lo, hi = isolated_day_edges([d.date() for d in counts.index], counts.tolist())
    if lo is None and hi is None:
        return
    bad = ((day < pd.Timestamp(lo or MIN_DATE)) | (day > pd.Timestamp(hi or ref))).to_numpy()
    raise ValueError(
        f"{where} has dates far from all others: {offending_rows(labels, shown, bad)}; the rest "
        f"run {lo or counts.index[0].date()} … {hi or counts.index[-1].date()}, and a gap wider "
        "than three times the middle half of the dates (and than a year) separates these from "
        "them. They would stretch the calibration or holdout period: correct or remove these rows"
    )


def check_log(
    log: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    source: str = "transactions",
    date_format: str | None = None,
    row_label: Callable[[int], str] | None = None,
    reference_date: dt.date | None = None,
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
    row_label : callable, optional
        Name of the row at a 0-based position in messages (the CLI gives CSV line numbers);
        default ``"row 88 (0-based)"``.
    reference_date : date, optional
        Dates after it are in the future (default: tomorrow by the machine's clock, a day's
        grace for logs written in a time zone ahead of the machine's).

    Returns
    -------
    DataFrame
        ``customer_id`` (text), ``timestamp`` (datetime64, naive: time-zone-aware values at
        their wall-clock time) and ``amount`` (float).

    Raises
    ------
    ValueError
        Naming ``source``, the column and the offending values: missing columns, empty log,
        missing ids, missing or unparseable dates, time zones that cannot be told apart from
        the text, dates in the future, before 1900 or isolated far from all others
        (:func:`check_dates`), missing, non-numeric or oversized amounts (beyond
        :data:`segml.contract.MAX_MONEY`).

    Warns
    -----
    ClvDataWarning
        Values with different UTC offsets (read at their wall-clock time); negative amounts
        (refunds: netted per customer and period by :func:`calibration_holdout`); zero amounts
        (purchases of value 0). Each names the number of rows and the first ones.
    """
    missing = [c for c in (customer_col, date_col, amount_col) if c not in log.columns]
    if missing:
        shown = ", ".join(map(str, list(log.columns)[:20]))
        raise ValueError(f"{source} has no column(s) {missing} (columns: {shown})")
    if len(log) == 0:
        raise ValueError(f"{source} has no rows")
    labels = _RowLabels(len(log), row_label or _zero_based)
    ids = log[customer_col]
    if (bad := ids.isna().to_numpy()).any():
        raise ValueError(f"{source}: column {customer_col!r} is empty in {offending_rows(labels, ids.to_numpy(), bad)}")  # fmt: skip
    raw = log[date_col]
    if pd.api.types.is_datetime64_any_dtype(raw):
        ts = raw
    else:
        text = raw.astype("string")
        try:
            ts = _parse_dates(text, date_format)
        except ValueError as exc:  # pandas refuses values in different time zones
            if "timezone" not in str(exc).lower() and "time zone" not in str(exc).lower():
                raise ValueError(f"{source}: column {date_col!r} cannot be read as dates: {exc}") from exc  # fmt: skip
            ts = _mixed_zones(text, date_format, source, date_col, labels)
        bad = (ts.isna() & text.notna()).to_numpy()
        if bad.any():
            raise ValueError(
                f"{source}: column {date_col!r} has values that are not dates"
                f"{f' in format {date_format!r}' if date_format else ''}: "
                f"{offending_rows(labels, text.to_numpy(dtype=object), bad)}"
            )
    if getattr(ts.dtype, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)
    if (bad := ts.isna().to_numpy()).any():
        raise ValueError(f"{source}: column {date_col!r} is empty in {offending_rows(labels, raw.to_numpy(dtype=object), bad)}")  # fmt: skip
    check_dates(ts, raw, labels, f"{source}: column {date_col!r}", reference_date)
    amount = log[amount_col]
    if not pd.api.types.is_numeric_dtype(amount) or pd.api.types.is_bool_dtype(amount):
        num = parse_numbers(amount)  # "3,659.52": thousands separators allowed
        bad = (num.isna() & amount.notna()).to_numpy()
        if bad.any():
            raise ValueError(
                f"{source}: column {amount_col!r} has non-numeric values: "
                f"{offending_rows(labels, amount.to_numpy(dtype=object), bad)}"
            )
        amount = num
    amount = amount.astype(float)
    if (bad := ~np.isfinite(amount.to_numpy())).any():
        raise ValueError(f"{source}: column {amount_col!r} is missing or infinite in {offending_rows(labels, amount.to_numpy(), bad)}")  # fmt: skip
    values = amount.to_numpy()
    if (bad := np.abs(values) > MAX_MONEY).any():
        raise ValueError(
            f"{source}: column {amount_col!r} has amounts beyond ±{MAX_MONEY:g}, the largest the "
            f"data contract accepts (no currency's amounts come near it): "
            f"{offending_rows(labels, log[amount_col].to_numpy(dtype=object), bad)}"
        )
    if (neg := values < 0).any():
        warnings.warn(
            f"{source}: column {amount_col!r} is negative in {offending_rows(labels, values, neg)} "
            "(refunds, returns): amounts are netted per customer and period (day or week); a "
            "period whose net amount is negative is not a purchase and is left out of the models "
            "and the holdout actuals (counted in data.amounts)",
            ClvDataWarning,
            stacklevel=2,
        )
    if (zero := values == 0).any():
        warnings.warn(
            f"{source}: column {amount_col!r} is 0 in {offending_rows(labels, values, zero)}: "
            "counted as purchases of value 0 (Gamma-Gamma fits only repeat buyers whose mean "
            "spend is positive)",
            ClvDataWarning,
            stacklevel=2,
        )
    return pd.DataFrame(
        {
            "customer_id": ids.astype(str).to_numpy(),
            "timestamp": ts.to_numpy(),
            "amount": amount.to_numpy(),
        }
    )
