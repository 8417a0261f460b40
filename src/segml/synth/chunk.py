"""One chunk of the synthetic bank: simulate its customers and lay their rows out as Arrow tables.

:func:`chunk_tables` runs the dynamics and the event generators on one chunk's population (in
a fixed order: the chunk's random stream depends on it) and builds one Arrow table per contract
table plus the chunk's ground-truth columns; :mod:`segml.synth.generator` writes them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segml.contract import (
    CHANNELS,
    GENDERS,
    INCOME_BANDS,
    INTERACTION_KINDS,
    STATEMENT_AMOUNTS,
    TRANSACTION_KINDS,
)
from segml.economics import BankEconomics
from segml.synth import events
from segml.synth.calendar import Calendar
from segml.synth.dynamics import Dynamics, simulate
from segml.synth.personas import INDUSTRIES, PERSONAS, REGIONS
from segml.synth.population import NEVER, PRODUCT_LIST, Population


def ids(prefix: str, start: int, n: int, width: int) -> pa.Array:
    """Ids ``prefix`` + zero-padded ``start`` … ``start + n - 1``."""
    return pa.array([f"{prefix}{i:0{width}d}" for i in range(start, start + n)], pa.string())


def names(codes: np.ndarray, labels: tuple[str, ...] | list[str]) -> pa.Array:
    """The label of each integer code."""
    return pa.array(list(labels), pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))


def date_array(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Days since the epoch as a ``date32`` array (``null`` marks missing values)."""
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32(), mask=null)


def ts_array(seconds: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Seconds since the epoch as a microsecond timestamp array (``null`` marks missing)."""
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, pa.timestamp("us"), mask=null)


def chunk_tables(
    pop: Population,
    cal: Calendar,
    rng: np.random.Generator,
    econ: BankEconomics,
    offsets: dict[str, int],
) -> tuple[dict[str, pa.Table], dict[str, np.ndarray]]:
    """Simulate one chunk: its contract tables and ground-truth columns; advances ``offsets``."""
    dyn = simulate(rng, pop, cal)
    pop = pop.without_accounts_after(dyn.churn_day)
    acc_close = events.account_close_day(pop, dyn, cal)
    tx = events.transactions(rng, pop, dyn, cal, acc_close)
    bal = events.balances(rng, pop, dyn, cal, acc_close)
    inter = events.interactions(rng, dyn, cal)
    fin = events.corporate_financials(rng, pop, dyn, cal)
    profit = events.monthly_profit(pop, dyn, cal, tx, bal, inter, econ)

    cid = ids("C", int(pop.gid[0]), pop.n, 8)
    aid = ids("A", offsets["accounts"], len(pop.acc_cust), 9)
    out: dict[str, pa.Table] = {
        "customers": _customers(pop, dyn, cal, cid),
        "accounts": _accounts(pop, acc_close, cid, aid),
        "balances": _balances(bal, cal, aid),
        "transactions": _transactions(tx, cid, aid, offsets["transactions"]),
        "interactions": _interactions(inter, cid, offsets["interactions"]),
        "corporate_financials": _corporate_financials(fin, cid),
    }
    truth = _truth(pop, dyn, cal, cid, profit)
    offsets["accounts"] += len(pop.acc_cust)
    offsets["transactions"] += len(tx)
    offsets["interactions"] += len(inter)
    return out, truth


def _customers(pop: Population, dyn: Dynamics, cal: Calendar, cid: pa.Array) -> pa.Table:
    """The chunk's ``customers`` table (demographics for retail, firmographics for corporate)."""
    corp = pop.corporate
    churned_in_data = dyn.churn_day < NEVER
    retail_null = corp
    return pa.table(
        {
            "customer_id": cid,
            "customer_type": names(corp.astype(int), ["retail", "corporate"]),
            "open_date": date_array(pop.open_day),
            "close_date": date_array(np.where(churned_in_data, dyn.churn_day, 0), ~churned_in_data),
            "region": names(pop.region, REGIONS),
            "birth_year": pa.array(cal.as_of.year - pop.age, pa.int32(), mask=retail_null),
            "gender": pa.array(
                np.asarray(GENDERS, dtype=object)[[1, 0, 3]][pop.gender],
                pa.string(),
                mask=retail_null,
            ),  # fmt: skip
            "income_band": pa.array(
                np.asarray(INCOME_BANDS, dtype=object)[pop.income_band],
                pa.string(),
                mask=retail_null,
            ),  # fmt: skip
            "occupation": pa.array(pop.occupation, pa.string(), mask=retail_null),
            "industry": pa.array(
                np.asarray(INDUSTRIES, dtype=object)[pop.industry], pa.string(), mask=~corp
            ),  # fmt: skip
            "employees": pa.array(pop.employees, pa.int32(), mask=~corp),
        }
    )


def _accounts(pop: Population, acc_close: np.ndarray, cid: pa.Array, aid: pa.Array) -> pa.Table:
    """The chunk's ``accounts`` table."""
    closed = acc_close < NEVER
    rate = np.array([events.ANNUAL_RATE.get(p, np.nan) for p in PRODUCT_LIST])[pop.acc_product]
    return pa.table(
        {
            "account_id": aid,
            "customer_id": cid.take(pa.array(pop.acc_cust)),
            "product": names(pop.acc_product, PRODUCT_LIST),
            "open_date": date_array(pop.acc_open),
            "close_date": date_array(np.where(closed, acc_close, 0), ~closed),
            "interest_rate": pa.array(rate, pa.float64(), mask=np.isnan(rate)),
        }
    )


def _balances(bal: events.Rows, cal: Calendar, aid: pa.Array) -> pa.Table:
    """The chunk's ``balances`` table (one row per account and month)."""
    return pa.table(
        {
            "account_id": aid.take(pa.array(bal.cols["account"])),
            "month": date_array(cal.month_starts[bal.cols["month"]]),
            "avg_balance": pa.array(bal.cols["avg_balance"], pa.float64()),
        }
    )


def _transactions(tx: events.Rows, cid: pa.Array, aid: pa.Array, first_id: int) -> pa.Table:
    """The chunk's ``transactions`` table, ids numbered from ``first_id``."""
    t = tx.cols
    return pa.table(
        {
            "transaction_id": pa.array(np.arange(len(tx), dtype=np.int64) + first_id),
            "account_id": aid.take(pa.array(t["account"])),
            "customer_id": cid.take(pa.array(t["cust"])),
            "timestamp": ts_array(t["ts"]),
            "amount": pa.array(t["amount"], pa.float64()),
            "direction": names(t["direction_credit"].astype(int), ["debit", "credit"]),
            "channel": names(t["channel"], CHANNELS),
            "kind": names(t["kind"], TRANSACTION_KINDS),
        }
    )


def _interactions(inter: events.Rows, cid: pa.Array, first_id: int) -> pa.Table:
    """The chunk's ``interactions`` table, ids numbered from ``first_id``."""
    c = inter.cols
    na = c["resolved"] < 0
    return pa.table(
        {
            "interaction_id": pa.array(np.arange(len(inter), dtype=np.int64) + first_id),
            "customer_id": cid.take(pa.array(c["cust"])),
            "timestamp": ts_array(c["ts"]),
            "kind": names(c["kind"], INTERACTION_KINDS),
            "score": pa.array(c["score"], pa.float64(), mask=np.isnan(c["score"])),
            "resolved": pa.array(c["resolved"] == 1, pa.bool_(), mask=na),
            "resolved_at": ts_array(np.maximum(c["resolved_at"], 0), c["resolved_at"] < 0),
            "channel": names(c["channel"], CHANNELS),
        }
    )


def _corporate_financials(fin: events.Rows, cid: pa.Array) -> pa.Table:
    """The chunk's ``corporate_financials`` table (one row per statement)."""
    f = fin.cols
    return pa.table(
        {
            "customer_id": cid.take(pa.array(f["cust"])),
            "fiscal_year": pa.array(f["fiscal_year"], pa.int32()),
            "report_date": date_array(f["report_day"]),
            **{k: pa.array(f[k], pa.float64()) for k in STATEMENT_AMOUNTS},
            "days_past_due": pa.array(f["days_past_due"], pa.int32()),
            "credit_events": pa.array(f["credit_events"], pa.int32()),
            "credit_rating": pa.array(f["rating"], pa.string()),
        }
    )


def _truth(
    pop: Population, dyn: Dynamics, cal: Calendar, cid: pa.Array, profit: np.ndarray
) -> dict[str, np.ndarray]:
    """The chunk's ground-truth columns (churn, PD and profit around the as-of month)."""
    a_m, L = cal.as_of_month, cal.label_months
    active = ~np.isnan(dyn.hazard_as_of)
    return {
        "customer_id": np.asarray(cid.to_pylist(), dtype=object),
        "customer_type": np.where(pop.corporate, "corporate", "retail").astype(object),
        "persona": np.asarray([p.name for p in PERSONAS], dtype=object)[pop.persona],
        "active_at_as_of": active,
        "hazard_monthly": dyn.hazard_as_of,
        "churn_probability": -np.expm1(-L * dyn.hazard_as_of),
        "churned": active & (dyn.churn_month > a_m),
        "churn_date_day": dyn.churn_day,
        "pd": pop.pd,
        "profit_trailing_12m": profit[:, a_m - 11 : a_m + 1].sum(axis=1),
        "next_12m_profit": profit[:, a_m + 1 : a_m + 1 + L].sum(axis=1),
    }
