"""The synthetic bank's calendar: history start, as-of date and the label window after it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from segml.dates import add_months

EPOCH = dt.date(1970, 1, 1)


def to_day(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


@dataclass(frozen=True)
class Calendar:
    """Monthly grid from ``start`` to ``end``; features up to ``as_of``, labels after it.

    ``as_of`` must be a month end and ``end`` the end of the label window
    (``label_months`` after ``as_of``).
    """

    start: dt.date
    as_of: dt.date
    label_months: int = 12

    def __post_init__(self) -> None:
        if self.start.day != 1:
            raise ValueError(f"history start must be the first of a month, got {self.start}")
        if (self.as_of + dt.timedelta(days=1)).day != 1:
            raise ValueError(f"as_of must be a month end, got {self.as_of}")
        if self.as_of <= self.start:
            raise ValueError("as_of must come after the history start")

    @property
    def end(self) -> dt.date:
        """Last day of the label window (the end of the data)."""
        return add_months(self.as_of, self.label_months + 1) - dt.timedelta(days=1)

    @property
    def month_starts(self) -> np.ndarray:
        """First day of each month, plus the day after the last month (days since epoch)."""
        n = self.n_months
        return np.array([to_day(add_months(self.start, k)) for k in range(n + 1)], dtype=np.int64)

    @property
    def n_months(self) -> int:
        """Months from ``start`` to ``end``."""
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1

    @property
    def as_of_month(self) -> int:
        """Index of the as-of date's month (the last month of the feature window)."""
        return (self.as_of.year - self.start.year) * 12 + self.as_of.month - self.start.month

    @property
    def start_day(self) -> int:
        """``start`` in days since epoch."""
        return to_day(self.start)

    @property
    def as_of_day(self) -> int:
        """``as_of`` in days since epoch."""
        return to_day(self.as_of)

    @property
    def end_day(self) -> int:
        """``end`` in days since epoch."""
        return to_day(self.end)
