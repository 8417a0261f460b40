"""Labels and holdout targets from the window after the as-of date, never mixed with features.

Features at ``t`` use records known at ``t``; labels use only the window ``(t, t + horizon]``.
The population is the customers active at ``t``. The window must lie inside the data: a label
window that runs past the last record would call every silent customer a churner, so it is an
error.

Churn definitions: ``closure`` (all accounts closed in the window), ``inactivity`` (closure, or
no customer-initiated transaction in the window's last ``inactivity_days`` days) and
``balance_runoff`` (closure, or the relationship balance — deposits + investments + loans, as
the ``relationship_balance`` feature — of the last complete month of the window fell below
``runoff_share`` of its value in the last complete month at ``t``; customers with no balance
at ``t`` can churn only by closure).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pyarrow as pa

from segml.data import BankData
from segml.dates import add_months
from segml.features.build import ensure_optional_tables, for_bank
from segml.features.families import BALANCE_FAMILIES, FAMILIES, profit_sql, profitability
from segml.features.spec import (
    AsOf,
    FeatureConfig,
    case_map,
    date_lit,
    exact_sum,
    in_list,
    ts_lit,
)

ChurnDefinition = Literal["closure", "inactivity", "balance_runoff"]
CHURN_DEFINITIONS: tuple[str, ...] = ("closure", "inactivity", "balance_runoff")


def label_window(as_of: dt.date, horizon_months: int) -> tuple[dt.date, dt.date]:
    """First and last day of the label window after ``as_of``."""
    start = as_of + dt.timedelta(days=1)
    end = add_months(start, horizon_months) - dt.timedelta(days=1) if start.day == 1 else None
    if end is None:
        end = start + dt.timedelta(days=round(horizon_months * 30.4375)) - dt.timedelta(days=1)
    return start, end


def build_labels(
    bank: BankData,
    as_of: dt.date | str,
    horizon_months: int = 12,
    definition: ChurnDefinition = "closure",
    inactivity_days: int = 90,
    config: FeatureConfig | None = None,
    runoff_share: float = 0.5,
) -> pa.Table:
    """Churn labels and holdout value for the customers active at ``as_of``.

    Parameters
    ----------
    bank : BankData
        A validated bank.
    as_of : date
        The feature date; the label window starts the next day.
    horizon_months : int
        Length of the label window.
    definition : {"closure", "inactivity", "balance_runoff"}
        ``closure``: the customer closed the relationship (all accounts) within the window.
        ``inactivity``: closure, or no customer-initiated transaction in the window's last
        ``inactivity_days`` days.
        ``balance_runoff``: closure, or the relationship balance of the window's last complete
        month is below ``runoff_share`` times that of the last complete month at ``as_of``
        (customers with no balance then churn only by closure).
    inactivity_days : int
        See ``definition``.
    config : FeatureConfig, optional
        Which transaction kinds are customer-initiated, and the economics for holdout profit.
    runoff_share : float
        See ``definition``; in (0, 1].

    Returns
    -------
    pyarrow.Table
        ``customer_id``, ``churned`` (0/1), ``holdout_purchase_days`` (distinct days with
        customer-initiated transactions in the window), ``holdout_spend`` (their amount) and,
        when the window is 12 months, ``holdout_profit`` (profit over it, same definition as
        ``profit_12m``: for a purchase log the margin on its purchases); under ``balance_runoff`` also ``balance_at_as_of`` and
        ``balance_at_window_end`` (relationship balances of the two months compared).

    Raises
    ------
    ValueError
        If the data end before the label window does, for an unknown definition, or when
        ``balance_runoff`` lacks balances for the window's last complete month.
    """
    as_of = dt.date.fromisoformat(str(as_of)[:10])
    start, end = label_window(as_of, horizon_months)
    con = bank.con
    ensure_optional_tables(con, bank.tables)
    cfg = for_bank(bank, config)
    last = bank.last_transaction_date()
    if last is None or last < end:
        raise ValueError(
            f"the label window {start} … {end} runs past the data, which end on "
            f"{last or 'no transaction'}: choose an earlier as-of date or a "
            "shorter horizon"
        )
    t, t_end = date_lit(as_of), date_lit(end)
    lo, hi = ts_lit(start), ts_lit(end + dt.timedelta(days=1))
    quiet_from = ts_lit(end + dt.timedelta(days=1 - inactivity_days))
    excl = in_list(cfg.exclude_kinds)
    closed = f"(c.close_date IS NOT NULL AND c.close_date <= {t_end})"
    churn = closed
    runoff_cols, runoff_join = "", ""
    if definition == "inactivity":
        churn = f"({closed} OR COALESCE(h.recent, 0) = 0)"
    elif definition == "balance_runoff":
        runoff_cols, runoff_join = _runoff_sql(bank, as_of, end, runoff_share)
        churn = (
            f"({closed} OR (COALESCE(r.bal0, 0) > 0 AND "
            f"COALESCE(r.bal1, 0) < {float(runoff_share)!r} * r.bal0))"
        )
    elif definition != "closure":
        raise ValueError(f"definition must be one of {CHURN_DEFINITIONS}, got {definition!r}")
    holdout = f"""SELECT customer_id, COUNT(DISTINCT CAST(timestamp AS DATE)) AS days,
        {exact_sum("amount")} AS spend, COUNT(CASE WHEN timestamp >= {quiet_from} THEN 1 END) AS recent
        FROM transactions WHERE timestamp >= {lo} AND timestamp < {hi} AND kind NOT IN {excl}
        GROUP BY customer_id"""
    profit_cols, profit_join = "", ""
    if horizon_months == 12 and start.day == 1:
        fams = profitability(AsOf(end), cfg)
        for f in fams:
            profit_join += (
                f" LEFT JOIN ({f.sql}) p_{f.name} ON p_{f.name}.customer_id = c.customer_id"
            )
        parts = {c: f"COALESCE(p_{f.name}.{c}, 0)" for f in fams for c in f.columns}
        expr = profit_sql(cfg)
        for c, v in parts.items():
            expr = expr.replace(c, v)
        profit_cols = f", {expr} AS holdout_profit"
    sql = f"""SELECT c.customer_id, CASE WHEN {churn} THEN 1 ELSE 0 END AS churned,
        COALESCE(h.days, 0) AS holdout_purchase_days, COALESCE(h.spend, 0) AS holdout_spend
        {profit_cols}{runoff_cols}
        FROM customers c LEFT JOIN ({holdout}) h ON h.customer_id = c.customer_id {profit_join}
        {runoff_join}
        WHERE c.open_date <= {t} AND (c.close_date IS NULL OR c.close_date > {t})
        ORDER BY c.customer_id"""
    table = con.sql(sql).to_arrow_table()
    meta = {
        b"segml.as_of": str(as_of).encode(),
        b"segml.label_window": f"{start}/{end}".encode(),
        b"segml.churn_definition": definition.encode(),
    }
    if definition == "balance_runoff":
        meta[b"segml.runoff_share"] = str(float(runoff_share)).encode()
    return table.replace_schema_metadata(meta)


def _runoff_sql(
    bank: BankData, as_of: dt.date, end: dt.date, runoff_share: float
) -> tuple[str, str]:
    """Columns and join of the relationship balances at ``as_of`` and at the window's end."""
    if not 0 < runoff_share <= 1:
        raise ValueError(f"runoff_share must be in (0, 1], got {runoff_share!r}")
    if "balances" not in bank.tables:
        raise ValueError(
            f"{bank.folder} has no balances table: the balance_runoff churn definition needs "
            "monthly balances"
        )
    m0, m1 = AsOf(as_of).months_back(1), AsOf(end).months_back(1)
    last = bank.con.execute("SELECT max(month) FROM balances").fetchall()[0][0]
    if last is None or last < m1:
        raise ValueError(
            f"balance_runoff compares balances of {m0:%Y-%m} and {m1:%Y-%m}, but the balances "
            f"table ends {last:%Y-%m}"
            if last
            else "the balances table is empty"
        )
    fam = case_map("a.product", dict(FAMILIES), "'other'")
    kept = in_list(list(BALANCE_FAMILIES))
    sql = f"""SELECT a.customer_id,
        {exact_sum(f"CASE WHEN b.month = {date_lit(m0)} THEN b.avg_balance ELSE 0 END")} AS bal0,
        {exact_sum(f"CASE WHEN b.month = {date_lit(m1)} THEN b.avg_balance ELSE 0 END")} AS bal1
        FROM balances b JOIN accounts a ON a.account_id = b.account_id
        WHERE b.month IN ({date_lit(m0)}, {date_lit(m1)}) AND {fam} IN {kept}
        GROUP BY a.customer_id"""
    cols = ", COALESCE(r.bal0, 0) AS balance_at_as_of, COALESCE(r.bal1, 0) AS balance_at_window_end"
    return cols, f"LEFT JOIN ({sql}) r ON r.customer_id = c.customer_id"
