"""Feature configuration and the point-in-time boundaries of one as-of date.

All date arithmetic happens here, in Python: the SQL only compares columns with literal dates
and timestamps, which keeps the feature queries portable between DuckDB and Spark and makes the
point-in-time rule visible — every record used at as-of date ``t`` is dated before ``t_next``
(midnight after ``t``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from segml.dates import add_months
from segml.economics import DEFAULT_ECONOMICS, BankEconomics

#: Transaction kinds the bank initiates (fees, interest) or that arrive on a schedule (salary,
#: pension, instalments): not the customer's own activity, so not counted as RFM "purchases".
NON_CUSTOMER_KINDS = ("fee", "interest", "salary", "pension", "loan_repayment")


@dataclass(frozen=True)
class FeatureConfig:
    """What the feature builder computes.

    Parameters
    ----------
    windows : tuple of int
        Trailing windows in days for transaction counts and sums.
    exclude_kinds : tuple of str
        Transaction kinds that are not customer-initiated activity (excluded from RFM,
        windows and channel mix).
    digital_channels : tuple of str
        Channels that count as digital.
    economics : BankEconomics
        Spreads, costs and PDs for the profitability features.
    """

    windows: tuple[int, ...] = (30, 90, 365)
    exclude_kinds: tuple[str, ...] = NON_CUSTOMER_KINDS
    digital_channels: tuple[str, ...] = ("mobile", "online")
    economics: BankEconomics = field(default_factory=lambda: DEFAULT_ECONOMICS)


@dataclass(frozen=True)
class AsOf:
    """Literal boundaries for an as-of date ``t``.

    ``month_end`` is the first day after the last complete month on or before ``t``:
    balances and monthly profitability use the months before it.
    """

    t: dt.date

    @property
    def next_day(self) -> dt.date:
        """Midnight after ``t``: records dated before it are known at ``t``."""
        return self.t + dt.timedelta(days=1)

    @property
    def month_end(self) -> dt.date:
        """First day after the last complete month."""
        return add_months(self.next_day, 0)

    def days_back(self, days: int) -> dt.date:
        """Start of a trailing window of ``days`` days ending at ``t`` (inclusive)."""
        return self.next_day - dt.timedelta(days=days)

    def months_back(self, months: int) -> dt.date:
        """First day of the month ``months`` complete months before :attr:`month_end`."""
        return add_months(self.month_end, -months)


#: Money is summed exactly (as DECIMAL, to the millionth of a unit): a parallel aggregate adds
#: doubles in an order the threads decide, so their sums moved in the last bits from one build
#: to the next; exact sums make every build of the same data identical to the bit.
EXACT = "DECIMAL(38, 6)"


def exact_sum(expr: str) -> str:
    """``SUM(expr)`` added exactly (:data:`EXACT`) and read back as a DOUBLE: the same to the
    bit whichever order the threads add the rows in."""
    return f"CAST(SUM(CAST({expr} AS {EXACT})) AS DOUBLE)"


def computed_sum(expr: str) -> str:
    """:func:`exact_sum` of a computed amount (a balance times a rate): each row rounded to the
    millionth in double arithmetic, then added as whole numbers (DECIMAL(38, 0): the contract's
    largest amounts times a million overflow BIGINT).

    Casting such a value to DECIMAL is not portable: DuckDB scales the double and rounds,
    Spark rounds its exact binary expansion, and a value that ends in a 5 at the seventh
    decimal came out 1e-6 apart. ``ROUND(x * 1e6)`` is the same IEEE product and the same
    half-away-from-zero rounding on both engines.
    """
    return f"CAST(SUM(CAST(ROUND(({expr}) * 1000000) AS DECIMAL(38, 0))) AS DOUBLE) / 1000000"


def date_lit(d: dt.date) -> str:
    """A SQL date literal."""
    return f"DATE '{d.isoformat()}'"


def ts_lit(d: dt.date) -> str:
    """A SQL timestamp literal at midnight of ``d``."""
    return f"TIMESTAMP '{d.isoformat()} 00:00:00'"


def in_list(values: tuple[str, ...] | list[str]) -> str:
    """A SQL IN-list of string literals."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def case_map(expr: str, mapping: dict[str, float | str], default: str = "0") -> str:
    """``CASE expr WHEN k THEN v ... ELSE default END`` from a dict."""
    whens = " ".join(
        f"WHEN '{k}' THEN " + (f"'{v}'" if isinstance(v, str) else f"CAST({float(v)!r} AS DOUBLE)")
        for k, v in mapping.items()
    )
    return f"CASE {expr} {whens} ELSE {default} END"
