"""Month arithmetic on dates: the one home of "m months earlier" and "m months later".

* :func:`add_months`: the first day of the month ``m`` months after a date's month (the month
  grid features, labels and the synthetic calendar are built on);
* :func:`months_before`: the snapshot date ``m`` months before an as-of date, month ends kept
  (2024-12-31 → 2023-12-31, 2024-03-31 → 2024-02-29): what every training snapshot uses;
* :func:`shift_months`: the same day ``m`` months later, clamped to the month's last day.
"""

from __future__ import annotations

import calendar
import datetime as dt

__all__ = ["add_months", "months_before", "shift_months"]


def add_months(d: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after ``d``'s month (before it when negative).

    Parameters
    ----------
    d : date
        Any day of the starting month.
    months : int
        Months to move (0: the first day of ``d``'s own month).

    Returns
    -------
    date
        A first of the month.
    """
    k = d.year * 12 + d.month - 1 + months
    return dt.date(k // 12, k % 12 + 1, 1)


def months_before(as_of: dt.date, months: int) -> dt.date:
    """The day ``months`` months before ``as_of``, month ends kept (2024-12-31 → 2023-12-31).

    Parameters
    ----------
    as_of : date
        The later date (usually a month end).
    months : int
        Months back (negative: forward).

    Returns
    -------
    date
        The last day of the month ``months`` before the month of the day after ``as_of``,
        less one day: a month end when ``as_of`` is one.
    """
    return add_months(as_of + dt.timedelta(days=1), -months) - dt.timedelta(days=1)


def shift_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` later (earlier when negative), clamped to the
    month's last day (2024-01-31 + 1 → 2024-02-29).

    Parameters
    ----------
    day : date
        The starting day.
    months : int
        Months to move.

    Returns
    -------
    date
        The shifted day.
    """
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
