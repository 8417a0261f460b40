"""Plausibility guards of the exported model's numeric inputs, from the data contract.

A feature table built from contract data cannot hold a negative balance, a negative count or a
share above 1; a request that does is refused, naming the column, the rows and the bound,
before any model sees it (:meth:`Limits.check`). Every numeric input must also be a finite
number no larger in magnitude than :data:`MAX_ABS`: ``inf``, ``-inf`` and values such as
``1e308`` (finite, but past float32, which xgboost computes in, and overflowing in sums) would
otherwise reach the models' native code.

The bounds come from each feature's definition (:data:`segml.features.catalogue.CATALOGUE`:
its unit, and the contract column it is built from; :func:`bounds`); a bank's own column the
catalogue does not know is only checked to be finite and within :data:`MAX_ABS`. The RFM
columns must also be consistent with each other: ``frequency <= recency <= T`` (repeat days
fall within the span from the first to the last active day, which ends by t).

Rows are positions in the input table, counted from 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segml.contract import CONTRACT
from segml.features.catalogue import CATALOGUE

__all__ = ["MAX_ABS", "Bound", "Limits", "RowsError", "bounds", "check_rfm", "rows_text"]

#: The largest magnitude of any numeric input: the features hold money as DECIMAL(38, 6), so
#: no feature built from contract data reaches 10^32; a value past it is no customer's.
MAX_ABS = 1e32


#: What a number too large for a 64-bit integer becomes when MLflow casts a request's value to
#: a ``long`` column of the signature (numpy's float-to-int64 conversion overflows to -2^63).
WRAPPED_INT = -(2.0**63)


class RowsError(ValueError):
    """An input error about some rows; ``str()`` names them, :meth:`at` names them shifted.

    Parameters
    ----------
    template : str
        The message, with ``{rows}`` where the rows are named.
    rows : array of int
        Positions of the offending rows (from 0).
    column : str, optional
        The offending column.
    """

    def __init__(self, template: str, rows: Sequence[int] | np.ndarray, column: str | None = None) -> None:  # fmt: skip
        self.template = template
        self.rows = np.asarray(rows, dtype=np.int64)
        self.column = column
        super().__init__(self.at(0))

    def at(self, offset: int) -> str:
        """The message with every row position shifted by ``offset`` (a chunk's first row)."""
        if "{rows}" not in self.template:  # about the table, not rows (a missing column)
            return self.template
        return self.template.replace("{rows}", rows_text(self.rows + offset))


def rows_text(rows: np.ndarray, limit: int = 5) -> str:
    """``row 3``, ``rows 3, 7 and 9`` or ``rows 3, 7, 9, 12, 15 and 20 more``."""
    shown = [str(int(r)) for r in rows[:limit]]
    if len(rows) == 1:
        return f"row {shown[0]}"
    if len(rows) <= limit:
        return f"rows {', '.join(shown[:-1])} and {shown[-1]}"
    return f"rows {', '.join(shown)} and {len(rows) - limit} more"


@dataclass(frozen=True)
class Bound:
    """Inclusive range of a numeric input and why (None: unbounded on that side)."""

    low: float | None
    high: float | None
    why: str


def _contract(table: str, column: str, what: str, upper: bool = False) -> Bound:
    """The contract column's minimum (and, with ``upper``, its maximum: for features that are
    one value or a mean of them, not a sum)."""
    spec = CONTRACT[table].column(column)
    high = spec.max if upper and spec.max is not None and spec.max < MAX_ABS else None
    at_most = f" and at most {high:g}" if high is not None else ""
    why = f"{what}: the data contract's {table}.{column} is at least {spec.min:g}{at_most}"
    return Bound(spec.min, high, why)


_MONEY = _contract("balances", "avg_balance", "balances and amounts")
_COST = Bound(0.0, None, "costs, fees and credit losses are at least 0")
_RATIO = Bound(0.0, None, "a ratio of the data contract's non-negative statement amounts")
#: Bounds by feature name where its unit alone does not say.
_BY_NAME: dict[str, Bound | None] = {
    "nii_12m": None,  # spreads may be negative
    "profit_12m": None,
    "ecl_12m": _COST,
    "account_cost_12m": _COST,
    "channel_cost_12m": _COST,
    "service_cost_12m": _COST,
    "fee_income_12m": Bound(0.0, None, "fee income: the data contract's amounts are at least 0"),
    "age": Bound(0.0, None, "age is the as-of year minus a birth year, which cannot be after it"),
    "employees": _contract("customers", "employees", "employees"),
    "fin_revenue": _contract("corporate_financials", "revenue", "revenue", upper=True),
    "fin_total_assets": _contract(
        "corporate_financials", "total_assets", "total assets", upper=True
    ),  # fmt: skip
    "fin_days_past_due": _contract("corporate_financials", "days_past_due", "days past due"),
    "fin_credit_events_3y": _contract("corporate_financials", "credit_events", "credit events"),
    "fin_leverage": _RATIO,
    "fin_current_ratio": _RATIO,
    "fin_asset_turnover": _RATIO,
    "fin_revenue_growth": Bound(-1.0, None, "revenue is at least 0, so it falls by at most 100%"),
}
_BY_UNIT: dict[str, Bound] = {
    "CNY": _MONEY,
    "count": Bound(0.0, None, "a count"),
    "days": Bound(0.0, None, "a number of days up to t"),
    "months": Bound(0.0, None, "a number of months up to t"),
    "share": Bound(0.0, 1.0, "a share"),
    "0/1": Bound(0.0, 1.0, "a 0/1 flag"),
    "0-10": _contract("interactions", "score", "satisfaction", upper=True),
}


def bounds(columns: Sequence[str]) -> dict[str, Bound]:
    """The range of each of ``columns`` the catalogue and the contract give (others: none)."""
    out = {}
    for c in columns:
        doc = CATALOGUE.get(c)
        b = _BY_NAME[c] if c in _BY_NAME else _BY_UNIT.get(doc.unit) if doc is not None else None
        if b is not None:
            out[c] = b
    return out


class Limits:
    """The bounds of a list of numeric columns as arrays, for :meth:`check` (made once)."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.bounds = bounds(self.columns)
        none = Bound(None, None, "")
        got = [self.bounds.get(c, none) for c in self.columns]
        self.low = np.array([-np.inf if b.low is None else b.low for b in got])
        self.high = np.array([np.inf if b.high is None else b.high for b in got])

    def check(self, values: np.ndarray) -> None:
        """Refuse non-finite, too large or out-of-range values (the first column that has one).

        Parameters
        ----------
        values : ndarray, shape (rows, columns)
            The numeric inputs as floats, in :attr:`columns` order (NaN: missing, allowed).

        Raises
        ------
        RowsError
            Naming the column, the rows, the values and the bound.
        """
        with np.errstate(invalid="ignore"):
            wrapped = values == WRAPPED_INT
            huge = np.isinf(values) | (np.abs(values) > MAX_ABS)
            below, above = values < self.low, values > self.high
        for mask, what in ((wrapped, "wrapped"), (huge, "huge"), (below, "below"), (above, "above")):  # fmt: skip
            if not mask.any():
                continue
            j = int(np.flatnonzero(mask.any(axis=0))[0])
            c, rows = self.columns[j], np.flatnonzero(mask[:, j])
            x = _values(values[rows, j])
            verb = "is" if len(rows) == 1 else "are"
            if what == "wrapped":
                text = (f"a number too large for a 64-bit integer (the column's type in the model "
                        f"signature), which MLflow's parsing turned into {int(WRAPPED_INT)}")  # fmt: skip
            elif what == "huge":
                text = f"{x} {verb} not finite, or larger in magnitude than {MAX_ABS:g}"
            else:
                b = self.bounds[c]
                limit = f"the minimum {b.low:g}" if what == "below" else f"the maximum {b.high:g}"
                text = f"{x} {verb} {what} {limit} ({b.why})"
            raise RowsError(f"column {c!r}, {{rows}}: {text}", rows, c)


def _values(x: np.ndarray) -> str:
    shown = [f"{v:g}" for v in x[:5]]
    more = f" and {len(x) - 5} more" if len(x) > 5 else ""
    if len(shown) == 1:
        return shown[0]
    return f"{', '.join(shown)}{more}" if more else f"{', '.join(shown[:-1])} and {shown[-1]}"


def check_rfm(values: dict[str, np.ndarray]) -> None:
    """Refuse RFM rows the CLV model cannot read (when ``frequency``, ``recency`` and ``T`` are
    all inputs; rows without ``T``, customers without a purchase, are not scored by it).

    ``frequency`` counts whole repeat periods and ``frequency <= recency <= T``; ``recency`` is
    0 where ``frequency`` is.

    Raises
    ------
    RowsError
        Naming the column, the rows and the values.
    """
    if not {"frequency", "recency", "T"} <= set(values):
        return
    x, tx, t = values["frequency"], values["recency"], values["T"]
    has = ~np.isnan(t)
    with np.errstate(invalid="ignore"):
        checks = (
            ("frequency", has & (x != np.round(x)), "is not a whole number of repeat periods"),
            ("frequency", has & (x > tx), "is above recency (repeat periods fall within it)"),
            ("recency", has & (tx > t), "is above T (the last purchase is not after t)"),
            ("recency", has & (x == 0) & (tx != 0), "is not 0 where frequency is 0"),
        )  # fmt: skip
    for column, bad, why in checks:
        if bad.any():
            rows = np.flatnonzero(bad)
            shown = _values(values[column][rows])
            verb = "is" if len(rows) == 1 else "are"
            raise RowsError(f"column {column!r}, {{rows}}: {shown} {why.replace('is', verb, 1)}", rows, column)  # fmt: skip
