"""Turn a chunk's population and monthly dynamics into contract rows and true profit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segml.contract import (
    CHANNELS,
    CREDIT_RATINGS,
    INTERACTION_KINDS,
    STATEMENT_AMOUNTS,
    TRANSACTION_KINDS,
)
from segml.economics import BankEconomics
from segml.synth.calendar import Calendar
from segml.synth.dynamics import Dynamics
from segml.synth.personas import TX_CHANNELS
from segml.synth.population import NEVER, PRODUCT_CODE, PRODUCT_LIST, Population

KIND = {k: i for i, k in enumerate(TRANSACTION_KINDS)}
CHANNEL = {c: i for i, c in enumerate(CHANNELS)}
CREDIT_KINDS = {
    "salary",
    "pension",
    "transfer_in",
    "cash_deposit",
    "loan_drawdown",
    "refund",
    "interest",
}
IS_CREDIT = np.array([k in CREDIT_KINDS for k in TRANSACTION_KINDS])
#: kind mix of self-initiated transactions by channel: retail, corporate
KIND_MIX = {
    False: {
        "branch": {"cash_deposit": 0.35, "cash_withdrawal": 0.25, "transfer_out": 0.2, "bill_payment": 0.2},
        "atm": {"cash_withdrawal": 0.85, "cash_deposit": 0.15},
        "mobile": {"transfer_out": 0.45, "bill_payment": 0.25, "transfer_in": 0.2, "investment": 0.1},
        "online": {"transfer_out": 0.45, "bill_payment": 0.25, "transfer_in": 0.2, "investment": 0.1},
        "pos": {"card_payment": 1.0},
        "phone": {"bill_payment": 0.6, "transfer_out": 0.4},
        "rm": {"investment": 0.7, "transfer_out": 0.3},
    },
    True: {
        "branch": {"cash_deposit": 0.5, "cash_withdrawal": 0.2, "transfer_out": 0.3},
        "atm": {"cash_withdrawal": 0.6, "cash_deposit": 0.4},
        "mobile": {"transfer_out": 0.5, "transfer_in": 0.45, "bill_payment": 0.05},
        "online": {"transfer_out": 0.5, "transfer_in": 0.45, "bill_payment": 0.05},
        "pos": {"card_payment": 1.0},
        "phone": {"transfer_out": 1.0},
        "rm": {"transfer_in": 0.5, "transfer_out": 0.5},
    },
}  # fmt: skip
#: median amount (CNY) of a retail self-initiated transaction by kind
KIND_MEDIAN = {
    "cash_deposit": 800, "cash_withdrawal": 400, "transfer_out": 900, "bill_payment": 250,
    "transfer_in": 1200, "investment": 5000, "card_payment": 150,
}  # fmt: skip
LENDING = np.array([PRODUCT_LIST[i] in ("mortgage", "consumer_loan", "credit_card", "corporate_loan", "trade_finance") for i in range(len(PRODUCT_LIST))])  # fmt: skip
ANNUAL_RATE = {
    "current_account": 0.002, "savings_deposit": 0.008, "term_deposit": 0.02,
    "corporate_current": 0.002, "corporate_deposit": 0.015, "mortgage": 0.041,
    "consumer_loan": 0.085, "credit_card": 0.18, "corporate_loan": 0.045, "trade_finance": 0.04,
}  # fmt: skip
SECONDS = 86_400


@dataclass
class Rows:
    """Column arrays of one table for one chunk (keys are contract columns)."""

    cols: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.cols.values())))


def account_close_day(pop: Population, dyn: Dynamics, cal: Calendar) -> np.ndarray:
    """Day each account closes (maturity or the customer's attrition), NEVER if open at the end."""
    close = np.minimum(pop.acc_maturity, dyn.churn_day[pop.acc_cust])
    return np.where(close <= cal.end_day, close, NEVER)


def transactions(
    rng: np.random.Generator, pop: Population, dyn: Dynamics, cal: Calendar, acc_close: np.ndarray
) -> Rows:
    """Self-initiated transactions plus salary/pension, loan instalments and fees."""
    n, M = dyn.t0.shape
    first_acc = np.searchsorted(pop.acc_cust, np.arange(n))  # primary account of each customer
    frac = (dyn.t1 - dyn.t0) / np.diff(cal.month_starts)[None, :]
    lam = pop.activity[:, None] * np.exp(dyn.engagement) * np.maximum(frac, 0)
    cnt = rng.poisson(lam).ravel()
    cust = np.repeat(np.repeat(np.arange(n), M), cnt)
    mon = np.repeat(np.tile(np.arange(M), n), cnt)
    t0, t1 = dyn.t0[cust, mon], dyn.t1[cust, mon]
    ts = t0 * SECONDS + (rng.random(cust.size) * (t1 - t0) * SECONDS).astype(np.int64)
    u = rng.random(cust.size)
    ch_local = (u[:, None] > pop.channel_cum[cust]).sum(axis=1)
    ch_local = np.minimum(ch_local, len(TX_CHANNELS) - 1)
    channel = np.asarray([CHANNEL[c] for c in TX_CHANNELS])[ch_local]
    kind = np.empty(cust.size, dtype=np.int64)
    corp = pop.corporate[cust]
    v = rng.random(cust.size)
    for is_corp, mixes in KIND_MIX.items():
        for c, mix in mixes.items():
            m = (corp == is_corp) & (channel == CHANNEL[c])
            names = list(mix)
            cum = np.cumsum([mix[k] for k in names])
            pick = np.minimum(np.searchsorted(cum, v[m] * cum[-1], side="right"), len(names) - 1)
            kind[m] = np.asarray([KIND[k] for k in names])[pick]
    med = np.zeros(len(TRANSACTION_KINDS))
    for k, x in KIND_MEDIAN.items():
        med[KIND[k]] = x
    retail_amt = med[kind] * (pop.wealth[cust] / 20_000) ** 0.3
    corp_amt = pop.wealth[cust] / (12 * pop.activity[cust])
    amount = np.where(corp, corp_amt, retail_amt) * np.exp(
        0.8 * rng.standard_normal(cust.size) - 0.3
    )
    acc = first_acc[cust]
    # card payments go to the credit card while it is open
    card = np.full(n, -1)
    is_card = pop.acc_product == PRODUCT_CODE["credit_card"]
    card[pop.acc_cust[is_card]] = np.flatnonzero(is_card)
    ci = card[cust]
    day = ts // SECONDS
    on_card = (kind == KIND["card_payment"]) & (ci >= 0)
    on_card &= (pop.acc_open[ci] <= day) & (day < acc_close[ci])
    acc = np.where(on_card, ci, acc)
    parts = [(cust, acc, ts, amount, channel, kind)]

    # monthly scheduled items on the primary account, on a fixed day if the customer is active
    def scheduled(
        mask: np.ndarray, dom: int, amt: np.ndarray, knd: np.ndarray, months: np.ndarray
    ) -> None:
        d = cal.month_starts[:-1][None, :] + dom
        ok = mask & (dyn.t0 <= d) & (d < dyn.t1)
        ok[:, ~months] = False
        i, m = np.nonzero(ok)
        when = d[0, m] * SECONDS + 9 * 3600 + (rng.random(i.size) * 8 * 3600).astype(np.int64)
        a = amt[i] * np.exp(0.03 * rng.standard_normal(i.size))
        parts.append((i, first_acc[i], when, a, np.full(i.size, CHANNEL["system"]), knd[i]))

    retail = ~pop.corporate
    pay_kind = np.where(pop.age >= 60, KIND["pension"], KIND["salary"])
    every = np.ones(M, dtype=bool)
    scheduled((retail & pop.employed)[:, None], 24, pop.income, pay_kind, every)
    # account and service fees are charged quarterly (March, June, September, December)
    quarter_end = np.array([(cal.start.month - 1 + m) % 3 == 2 for m in range(M)])
    scheduled(np.ones((n, 1), dtype=bool), 27, 3 * pop.fee, np.full(n, KIND["fee"]), quarter_end)
    # loan instalments: annuity on the facility, while it is open
    loans = np.flatnonzero(
        np.isin(pop.acc_product, [PRODUCT_CODE["mortgage"], PRODUCT_CODE["consumer_loan"]])
    )
    for a_idx in np.array_split(loans, max(1, len(loans) // 20000)):
        if a_idx.size == 0:
            continue
        r = np.array([ANNUAL_RATE[PRODUCT_LIST[p]] for p in pop.acc_product[a_idx]]) / 12
        inst = pop.acc_base[a_idx] * r / (1 - (1 + r) ** -pop.acc_term[a_idx])
        d = cal.month_starts[:-1][None, :] + 14
        c = pop.acc_cust[a_idx]
        ok = (pop.acc_open[a_idx, None] <= d) & (d < acc_close[a_idx, None])
        ok &= (dyn.t0[c] <= d) & (d < dyn.t1[c])
        j, m = np.nonzero(ok)
        when = d[0, m] * SECONDS + 6 * 3600
        parts.append((c[j], first_acc[c[j]], when, inst[j], np.full(j.size, CHANNEL["system"]), np.full(j.size, KIND["loan_repayment"])))  # fmt: skip
    cols = [np.concatenate(x) for x in zip(*parts, strict=True)]
    cust, acc, ts, amount, channel, kind = cols
    order = np.lexsort((acc, ts))
    return Rows(
        {
            "cust": cust[order],
            "account": acc[order],
            "ts": ts[order],
            "amount": np.round(np.maximum(amount[order], 0.01), 2),
            "direction_credit": IS_CREDIT[kind[order]],
            "channel": channel[order],
            "kind": kind[order],
        }
    )


def balances(
    rng: np.random.Generator, pop: Population, dyn: Dynamics, cal: Calendar, acc_close: np.ndarray
) -> Rows:
    """Monthly average balance of every account in every month it is open within the history."""
    ms = cal.month_starts
    first = np.maximum(np.searchsorted(ms, pop.acc_open, side="right") - 1, 0)
    last = np.minimum(
        np.searchsorted(ms, np.minimum(acc_close, cal.end_day), side="right") - 1, len(ms) - 2
    )
    last = np.where(acc_close < ms[0], -1, last)
    cnt = np.maximum(last - first + 1, 0)
    acc = np.repeat(np.arange(len(cnt)), cnt)
    mon = np.repeat(first - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
    cust = pop.acc_cust[acc]
    prod = np.asarray(PRODUCT_LIST, dtype=object)[pop.acc_product[acc]]
    e = dyn.engagement[cust, mon]
    noise = rng.standard_normal(acc.size)
    base = pop.acc_base[acc]
    bal = base * np.exp(0.5 * e + 0.12 * noise)
    age_m = (ms[mon] - pop.acc_open[acc]) / 30.4375
    amort = (prod == "mortgage") | (prod == "consumer_loan")
    term = np.maximum(pop.acc_term[acc], 1)
    bal = np.where(amort, base * np.clip(1 - age_m / term, 0, 1), bal)
    bal = np.where(prod == "credit_card", base * np.exp(0.3 * e + 0.3 * noise), bal)
    bal = np.where(prod == "trade_finance", base * np.exp(0.4 * noise), bal)
    bal = np.where(prod == "corporate_loan", base * np.exp(0.1 * noise), bal)
    return Rows({"account": acc, "month": mon, "avg_balance": np.round(np.maximum(bal, 0), 2)})


def interactions(rng: np.random.Generator, dyn: Dynamics, cal: Calendar) -> Rows:
    """Complaints (some never resolved), satisfaction surveys and service contacts."""
    parts = []
    kinds = {"complaint": dyn.complaints, "survey": (dyn.survey_score >= 0).astype(np.int16), "service_contact": dyn.contacts}  # fmt: skip
    channels = {"complaint": ("branch", "phone", "mobile"), "survey": ("mobile", "online", "phone"), "service_contact": ("phone", "branch", "online")}  # fmt: skip
    for k, counts in kinds.items():
        i = np.repeat(np.arange(counts.shape[0]), counts.sum(axis=1))
        flat = counts.ravel()
        idx = np.repeat(np.arange(flat.size), flat)
        m = idx % counts.shape[1]
        t0, t1 = dyn.t0[i, m], dyn.t1[i, m]
        ts = t0 * SECONDS + (rng.random(i.size) * (t1 - t0) * SECONDS).astype(np.int64)
        score = np.full(i.size, np.nan)
        resolved = np.zeros(i.size, dtype=np.int8) - 1  # -1 = not applicable
        resolved_at = np.full(i.size, -1, dtype=np.int64)
        if k == "survey":
            score = dyn.survey_score[i, m].astype(float)
        if k == "complaint":
            # the first `never_resolved` complaints of a customer-month are never resolved
            rank = np.arange(i.size) - np.repeat(np.cumsum(flat) - flat, flat)
            never = rank < dyn.never_resolved.ravel()[idx]
            at = ts + (rng.exponential(5, i.size) * SECONDS).astype(np.int64) + 3600
            ok = ~never & (at < (cal.end_day + 1) * SECONDS)
            resolved = ok.astype(np.int8)
            resolved_at = np.where(ok, at, -1)
        ch = np.asarray([CHANNEL[c] for c in channels[k]])[rng.integers(0, 3, i.size)]
        parts.append((i, ts, np.full(i.size, INTERACTION_KINDS.index(k)), score, resolved, resolved_at, ch))  # fmt: skip
    cols = [np.concatenate(x) for x in zip(*parts, strict=True)]
    order = np.lexsort((cols[2], cols[1], cols[0]))
    names = ("cust", "ts", "kind", "score", "resolved", "resolved_at", "channel")
    return Rows({k: c[order] for k, c in zip(names, cols, strict=True)})


def corporate_financials(
    rng: np.random.Generator, pop: Population, dyn: Dynamics, cal: Calendar
) -> Rows:
    """Yearly statements of corporate clients, known about 60-150 days after the year end."""
    import datetime as dt

    from segml.synth.calendar import to_day

    corp = np.flatnonzero(pop.corporate)
    years = np.arange(cal.start.year - 1, cal.as_of.year + 1)
    growth = 0.05 + 0.08 * rng.standard_normal(corp.size)
    turnover = np.exp(0.3 * rng.standard_normal(corp.size))
    pd_ = pop.pd[corp]
    rows = []
    for y in years:
        ye = to_day(dt.date(int(y), 12, 31))
        rep = ye + rng.integers(60, 150, corp.size)
        ok = (pop.open_day[corp] <= ye) & (rep <= np.minimum(dyn.churn_day[corp], cal.end_day))
        rev = (
            pop.wealth[corp]
            * (1 + growth) ** (y - cal.as_of.year)
            * np.exp(0.08 * rng.standard_normal(corp.size))
        )
        assets = rev / turnover
        lev = np.clip(0.35 + 2.5 * pd_ + 0.1 * rng.standard_normal(corp.size), 0.05, 0.98)
        ca = assets * rng.uniform(0.25, 0.6, corp.size)
        cr = np.exp(np.log(1.5) - 4 * pd_ + 0.25 * rng.standard_normal(corp.size))
        roa = 0.06 - 0.5 * pd_ + 0.03 * rng.standard_normal(corp.size)
        late = rng.random(corp.size) < np.minimum(0.9, 3 * pd_)
        dpd = np.where(late, rng.choice([15, 30, 60, 90, 120], corp.size), 0)
        events = rng.poisson(0.5 * pd_)
        # a rating tracks the true PD, imperfectly
        noisy_pd = pd_ * np.exp(0.25 * rng.standard_normal(corp.size))
        rating = np.searchsorted(
            [0.0005, 0.001, 0.003, 0.008, 0.02, 0.05, 0.12, 0.25, 0.4], noisy_pd
        )
        cols = (corp, np.full(corp.size, y), rep, rev, assets, lev * assets, ca, ca / cr, roa * assets, dpd, events, rating)  # fmt: skip
        rows.append([c[ok] for c in cols])
    names = ("cust", "fiscal_year", "report_day", *STATEMENT_AMOUNTS, "days_past_due", "credit_events", "rating")  # fmt: skip
    cols = [np.concatenate(x) for x in zip(*rows, strict=True)]
    order = np.lexsort((cols[1], cols[0]))
    out = {k: c[order] for k, c in zip(names, cols, strict=True)}
    for k in STATEMENT_AMOUNTS:
        out[k] = np.round(out[k], 2)
    out["rating"] = np.asarray(CREDIT_RATINGS, dtype=object)[out["rating"]]
    return Rows(out)


def monthly_profit(
    pop: Population,
    dyn: Dynamics,
    cal: Calendar,
    tx: Rows,
    bal: Rows,
    inter: Rows,
    econ: BankEconomics,
) -> np.ndarray:
    """True profit of each customer in each month, shape (n, M), by :class:`BankEconomics`."""
    n, M = dyn.t0.shape
    flat = n * M
    ms = cal.month_starts
    spread = np.array([econ.spread[p] for p in PRODUCT_LIST]) / 12
    lgd = np.array([econ.lgd.get(p, 0.0) for p in PRODUCT_LIST])
    prod = pop.acc_product[bal.cols["account"]]
    cust = pop.acc_cust[bal.cols["account"]]
    b = bal.cols["avg_balance"]
    key = cust * M + bal.cols["month"]
    revenue = np.bincount(key, b * spread[prod], flat)
    ecl = np.bincount(key, b * pop.pd[cust] * lgd[prod] / 12, flat)
    acc_cost = np.where(pop.corporate[cust], econ.account_cost_corporate, econ.account_cost_retail)
    cost = np.bincount(key, acc_cost, flat)
    tkey = tx.cols["cust"] * M + np.searchsorted(ms, tx.cols["ts"] // SECONDS, side="right") - 1
    ch_cost = np.array([econ.channel_cost[c] for c in CHANNELS])
    cost += np.bincount(tkey, ch_cost[tx.cols["channel"]], flat)
    fees = np.bincount(tkey, np.where(tx.cols["kind"] == KIND["fee"], tx.cols["amount"], 0.0), flat)
    ikey = (
        inter.cols["cust"] * M + np.searchsorted(ms, inter.cols["ts"] // SECONDS, side="right") - 1
    )
    i_cost = np.array([econ.interaction_cost[k] for k in INTERACTION_KINDS])
    cost += np.bincount(ikey, i_cost[inter.cols["kind"]], flat)
    frac = (dyn.t1 - dyn.t0) / np.maximum(np.diff(ms), 1)[None, :]
    cost = cost.reshape(n, M) + pop.rm_cost[:, None] * np.maximum(frac, 0)
    return (revenue + fees - ecl).reshape(n, M) - cost
