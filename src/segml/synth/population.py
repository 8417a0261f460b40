"""Draw the static side of a chunk of synthetic customers: who they are and what they hold."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from segml.contract import INCOME_BANDS, PRODUCTS
from segml.synth.calendar import Calendar
from segml.synth.personas import (
    CORPORATE_PERSONAS,
    CORPORATE_PRODUCTS,
    INDUSTRY_RISK,
    INDUSTRY_SHARES,
    PERSONAS,
    REGION_SHARES,
    REGION_WEALTH,
    RETAIL_PERSONAS,
    RETAIL_PRODUCTS,
)

PRODUCT_LIST = tuple(PRODUCTS)
PRODUCT_CODE = {p: i for i, p in enumerate(PRODUCT_LIST)}
INCOME_WEALTH = np.array([0.4, 0.7, 1.0, 1.5, 2.5])
INCOME_MONTHLY = np.array([2_500.0, 5_000.0, 9_000.0, 16_000.0, 40_000.0])


def _lognormal(
    rng: np.random.Generator, median: np.ndarray, sigma: float | np.ndarray
) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(np.shape(median)))


@dataclass
class Population:
    """Static attributes of ``n`` customers (arrays of length n) and their accounts."""

    gid: np.ndarray
    persona: np.ndarray
    corporate: np.ndarray
    open_day: np.ndarray
    region: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    income_band: np.ndarray
    occupation: np.ndarray
    industry: np.ndarray
    employees: np.ndarray
    wealth: np.ndarray  # liquid wealth (retail) or annual revenue (corporate)
    income: np.ndarray  # monthly income (retail)
    activity: np.ndarray
    channel_cum: np.ndarray  # (n, len(TX_CHANNELS)) cumulative channel probabilities
    pd: np.ndarray
    hazard0: np.ndarray
    complaint_rate: np.ndarray
    satisfaction: np.ndarray
    employed: np.ndarray
    fee: np.ndarray
    rm_cost: np.ndarray
    # accounts (arrays of length A); account 0..n-1 are the primary accounts, in customer order
    acc_cust: np.ndarray
    acc_product: np.ndarray
    acc_open: np.ndarray
    acc_maturity: np.ndarray  # day the facility matures and closes (INT_MAX if never)
    acc_base: np.ndarray  # base balance (loans: principal)
    acc_term: np.ndarray  # loan term in months (0 for non-amortising)

    @property
    def n(self) -> int:
        """Number of customers."""
        return len(self.gid)

    def without_accounts_after(self, leave_day: np.ndarray) -> Population:
        """Drop accounts that would open on or after their customer left the bank.

        A primary account opens with its customer, before any departure, so it is always kept.
        """
        keep = self.acc_open < leave_day[self.acc_cust]
        fields = ("acc_cust", "acc_product", "acc_open", "acc_maturity", "acc_base", "acc_term")
        return replace(self, **{f: getattr(self, f)[keep] for f in fields})


NEVER = np.iinfo(np.int64).max // 4


def draw_population(
    rng: np.random.Generator, first_gid: int, n: int, corporate_share: float, cal: Calendar
) -> Population:
    """Draw ``n`` customers with global ids starting at ``first_gid``."""
    corporate = rng.random(n) < corporate_share
    persona = np.empty(n, dtype=np.int8)
    r_share = np.array([PERSONAS[i].share for i in RETAIL_PERSONAS])
    c_share = np.array([PERSONAS[i].share for i in CORPORATE_PERSONAS])
    persona[~corporate] = np.asarray(RETAIL_PERSONAS)[
        rng.choice(len(r_share), size=(~corporate).sum(), p=r_share / r_share.sum())
    ]
    persona[corporate] = np.asarray(CORPORATE_PERSONAS)[
        rng.choice(len(c_share), size=corporate.sum(), p=c_share / c_share.sum())
    ]
    P = PERSONAS
    par = {
        k: np.array([getattr(P[i], k) for i in range(len(P))], dtype=float)[persona]
        for k in (
            "age",
            "wealth",
            "wealth_sigma",
            "activity",
            "pd",
            "hazard",
            "complaints",
            "satisfaction",
            "employed",
            "monthly_fee",
            "rm_cost",
        )
    }
    # relationship start: two thirds are the existing book, the rest join during the history
    existing = rng.random(n) < 0.65
    back = np.minimum(rng.exponential(6 * 365.25, n), 20 * 365.25).astype(np.int64)
    new = rng.integers(cal.start_day, cal.as_of_day - 30, n)
    open_day = np.where(existing, cal.start_day - 1 - back, new)

    region = rng.choice(len(REGION_SHARES), size=n, p=np.asarray(REGION_SHARES))
    age = np.clip(np.round(par["age"] + 9 * rng.standard_normal(n)), 18, 95).astype(np.int64)
    gender = np.where(rng.random(n) < 0.02, 2, (rng.random(n) < 0.5).astype(np.int64))
    income_p = np.array([P[i].income for i in range(len(P))])[persona]
    income_band = (rng.random(n)[:, None] > np.cumsum(income_p, axis=1)).sum(axis=1)
    income_band = np.minimum(income_band, len(INCOME_BANDS) - 1)
    occ_u = rng.random(n)
    occupation = np.empty(n, dtype=object)
    for i, p in enumerate(P):
        m = persona == i
        occ = np.asarray(p.occupations, dtype=object)
        occupation[m] = occ[(occ_u[m] * len(occ)).astype(np.int64)]
    industry = rng.choice(len(INDUSTRY_SHARES), size=n, p=np.asarray(INDUSTRY_SHARES))
    reg_w = np.asarray(REGION_WEALTH)[region]
    wealth = _lognormal(rng, par["wealth"] * reg_w, par["wealth_sigma"])
    wealth = np.where(corporate, wealth, wealth * INCOME_WEALTH[income_band])
    income = INCOME_MONTHLY[income_band] * np.exp(0.25 * rng.standard_normal(n))
    employees = np.where(
        corporate, np.maximum(1, np.round(wealth / _lognormal(rng, np.full(n, 6e5), 0.5))), 0
    ).astype(np.int64)
    activity = _lognormal(rng, par["activity"], 0.55)
    ch = np.array([P[i].channels for i in range(len(P))])[persona]
    ch = np.maximum(rng.gamma(ch * 12 + 1e-3), 1e-9)  # Dirichlet around the persona's mix
    ch /= ch.sum(axis=1, keepdims=True)
    pd_ = _lognormal(rng, par["pd"], 0.6)
    pd_ = np.where(corporate, pd_ * np.asarray(INDUSTRY_RISK)[industry], pd_)
    pd_ = np.minimum(pd_, 0.35)
    hazard0 = par["hazard"] * rng.gamma(2.0, 0.5, n)
    complaint_rate = par["complaints"] * rng.gamma(1.5, 1 / 1.5, n)
    satisfaction = np.clip(par["satisfaction"] + 0.8 * rng.standard_normal(n), 2, 10)
    employed = rng.random(n) < par["employed"]
    fee = _lognormal(rng, par["monthly_fee"], 0.5)
    rm_cost = par["rm_cost"] * np.where(corporate | (wealth > 3e5), 1.0, 0.0)

    acc = _draw_accounts(rng, n, persona, corporate, open_day, wealth, income, cal)
    return Population(
        gid=np.arange(first_gid, first_gid + n, dtype=np.int64),
        persona=persona,
        corporate=corporate,
        open_day=open_day.astype(np.int64),
        region=region,
        age=age,
        gender=gender,
        income_band=income_band,
        occupation=occupation,
        industry=industry,
        employees=employees,
        wealth=wealth,
        income=income,
        activity=activity,
        channel_cum=np.cumsum(ch, axis=1),
        pd=pd_,
        hazard0=hazard0,
        complaint_rate=complaint_rate,
        satisfaction=satisfaction,
        employed=employed,
        fee=fee,
        rm_cost=rm_cost,
        **acc,
    )


def _draw_accounts(
    rng: np.random.Generator,
    n: int,
    persona: np.ndarray,
    corporate: np.ndarray,
    open_day: np.ndarray,
    wealth: np.ndarray,
    income: np.ndarray,
    cal: Calendar,
) -> dict[str, np.ndarray]:
    cust = [np.arange(n)]
    prod = [np.where(corporate, PRODUCT_CODE["corporate_current"], PRODUCT_CODE["current_account"])]
    opened = [open_day]
    for products, is_corp in ((RETAIL_PRODUCTS, False), (CORPORATE_PRODUCTS, True)):
        props = np.array([PERSONAS[i].products if PERSONAS[i].corporate == is_corp else (0,) * len(products) for i in range(len(PERSONAS))])  # fmt: skip
        props = props[persona]
        for j, name in enumerate(products):
            has = rng.random(n) < props[:, j]
            idx = np.flatnonzero(has)
            # secondary products follow the first account after a while
            lag = rng.exponential(400, idx.size).astype(np.int64)
            cust.append(idx)
            prod.append(np.full(idx.size, PRODUCT_CODE[name]))
            opened.append(open_day[idx] + lag)
    acc_cust = np.concatenate(cust)
    acc_product = np.concatenate(prod).astype(np.int8)
    acc_open = np.concatenate(opened)
    keep = acc_open < cal.end_day - 1
    keep[:n] = True
    acc_cust, acc_product, acc_open = acc_cust[keep], acc_product[keep], acc_open[keep]
    # stable order: by customer, primary account first, then by opening day
    secondary = np.arange(acc_cust.size) >= n
    order = np.lexsort((acc_open, secondary, acc_cust))
    acc_cust, acc_product, acc_open = acc_cust[order], acc_product[order], acc_open[order]

    a = acc_cust.size
    w, inc = wealth[acc_cust], income[acc_cust]
    name = np.asarray(PRODUCT_LIST, dtype=object)[acc_product]
    noise = np.exp(0.35 * rng.standard_normal(a))
    base = np.zeros(a)
    term = np.zeros(a, dtype=np.int64)
    share = {
        "current_account": 0.25,
        "savings_deposit": 0.35,
        "term_deposit": 0.5,
        "wealth_fund": 0.9,
        "corporate_current": 0.06,
        "corporate_deposit": 0.08,
        "corporate_loan": 0.35,
        "trade_finance": 0.10,
    }
    for p, s in share.items():
        m = name == p
        base[m] = s * w[m] * noise[m]
    m = name == "mortgage"
    base[m] = 12 * inc[m] * np.exp(np.log(5.0) + 0.3 * rng.standard_normal(m.sum()))
    term[m] = rng.choice([240, 300, 360], m.sum())
    m = name == "consumer_loan"
    base[m] = inc[m] * rng.uniform(3, 12, m.sum())
    term[m] = rng.choice([36, 48, 60], m.sum())
    m = name == "credit_card"
    base[m] = inc[m] * np.exp(-0.5 + 0.7 * rng.standard_normal(m.sum()))
    m = name == "corporate_loan"
    term[m] = 0
    maturity = np.full(a, NEVER, dtype=np.int64)
    m = name == "consumer_loan"
    maturity[m] = acc_open[m] + np.round(term[m] * 30.4375).astype(np.int64)
    return {
        "acc_cust": acc_cust,
        "acc_product": acc_product,
        "acc_open": acc_open,
        "acc_maturity": maturity,
        "acc_base": base,
        "acc_term": term,
    }
