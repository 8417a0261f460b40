"""The data profile of a validated bank at an as-of date: sizes, periods, populations.

The ``profile`` stage of ``segml run``; its facts are logged as metrics and written as
``data_profile.json``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from segml.data import BankData


@dataclass(frozen=True)
class DataProfile:
    """What the data hold, at the as-of date: sizes, periods, populations."""

    as_of: str
    row_counts: dict[str, int]
    customers_by_type: dict[str, int]
    active_customers_at_as_of: int
    customers_by_region: dict[str, int]
    transactions_first: str | None
    transactions_last: str | None
    transactions_to_as_of: int
    transactions_after_as_of: int
    history_months_to_as_of: int
    products: dict[str, int] = field(default_factory=dict)

    @property
    def history_start(self) -> dt.date | None:
        """Day of the first transaction (None for an empty log)."""
        first = self.transactions_first
        return dt.date.fromisoformat(first[:10]) if first else None

    def metrics(self) -> dict[str, float]:
        """Numeric facts for the tracker."""
        m: dict[str, float] = {f"rows.{k}": v for k, v in self.row_counts.items()}
        m.update({f"customers.{k}": v for k, v in self.customers_by_type.items()})
        m["customers.active_at_as_of"] = self.active_customers_at_as_of
        m["transactions.to_as_of"] = self.transactions_to_as_of
        m["transactions.after_as_of"] = self.transactions_after_as_of
        m["history_months_to_as_of"] = self.history_months_to_as_of
        return m


def _pairs(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in con.execute(sql).fetchall()}


def profile_bank(bank: BankData, as_of: dt.date) -> DataProfile:
    """Profile a validated bank at ``as_of`` (only records dated up to it count as history)."""
    con, d = bank.con, f"DATE '{as_of}'"
    active = con.execute(
        f"SELECT count(*) FROM customers WHERE open_date <= {d} "
        f"AND (close_date IS NULL OR close_date > {d})"
    ).fetchall()[0][0]
    first, last, before, after = con.execute(
        f"SELECT min(timestamp), max(timestamp), count(*) FILTER (WHERE timestamp < {d} + 1), "
        f"count(*) FILTER (WHERE timestamp >= {d} + 1) FROM transactions"
    ).fetchall()[0]
    months = 0
    if first is not None and first.date() <= as_of:
        months = (as_of.year - first.year) * 12 + as_of.month - first.month + 1
    return DataProfile(
        as_of=str(as_of),
        row_counts=dict(bank.report.row_counts),
        customers_by_type=_pairs(
            con, "SELECT customer_type, count(*) FROM customers GROUP BY 1 ORDER BY 1"
        ),
        active_customers_at_as_of=int(active),
        customers_by_region=_pairs(
            con, "SELECT coalesce(region, '(none)'), count(*) FROM customers GROUP BY 1 ORDER BY 1"
        ),
        transactions_first=str(first) if first is not None else None,
        transactions_last=str(last) if last is not None else None,
        transactions_to_as_of=int(before),
        transactions_after_as_of=int(after),
        history_months_to_as_of=months,
        products=_pairs(con, "SELECT product, count(*) FROM accounts GROUP BY 1 ORDER BY 1"),
    )


def default_as_of(bank: BankData) -> dt.date:
    """The last transaction date: the as-of date when neither config nor data name one."""
    return bank.last_transaction_date()
