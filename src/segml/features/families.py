"""The feature families as SQL over the contract's typed tables, one CTE per family.

Every query reads only records known at the as-of date (see :class:`segml.features.spec.AsOf`)
and is written in the portable subset that sqlglot turns into Spark SQL: literal boundaries,
``CASE`` instead of ``FILTER``, ``date_diff('day', …)`` on dates, ``ROW_NUMBER`` instead of
``arg_max``, and ``NULLIF`` around every divisor.
"""

from __future__ import annotations

from dataclasses import dataclass

from segml.contract import CHANNELS, PRODUCTS, STATEMENT_AMOUNTS
from segml.features.spec import (
    EXACT,
    AsOf,
    FeatureConfig,
    case_map,
    computed_sum,
    date_lit,
    exact_sum,
    in_list,
    ts_lit,
)

FAMILIES = {p: f for p, (f, _) in PRODUCTS.items()}
BALANCE_FAMILIES = ("deposit", "investment", "lending")
LENDING = tuple(p for p, f in FAMILIES.items() if f == "lending")


@dataclass(frozen=True)
class Family:
    """One feature family: a CTE keyed by ``customer_id`` and the columns it adds.

    ``fill`` holds the value a column takes for a customer the CTE has no row for (counts
    and sums are 0; averages, shares and recencies stay NULL).
    """

    name: str
    sql: str
    columns: tuple[str, ...]
    fill: dict[str, str]


def _dbl(expr: str) -> str:
    return f"CAST({expr} AS DOUBLE)"


def _fam(name: str, sql: str, columns: list[str], zero: list[str]) -> Family:
    return Family(name, sql, tuple(columns), {c: "0" for c in zero})


def _rfm(a: AsOf, cfg: FeatureConfig) -> Family:
    """RFM, purchase-day gaps and the transaction count, from customer-initiated transactions."""
    t_next, excl = ts_lit(a.next_day), in_list(cfg.exclude_kinds)
    # One window over the transactions themselves, no (customer, day) aggregate first: sorted
    # by day, the gaps between a customer's distinct days are the non-zero gaps between
    # consecutive transactions, so the purchase days (frequency + 1), their gaps and the first
    # day's spend all come from one sort. The daily GROUP BY it replaces had nearly one group
    # per row (6.8M groups of 7.6M rows on 100,000 customers).
    rows = (
        "SELECT customer_id, CAST(timestamp AS DATE) AS d, amount AS amt "
        f"FROM transactions WHERE timestamp < {t_next} AND kind NOT IN {excl}"
    )
    gaps = (
        "SELECT customer_id, d, amt, FIRST_VALUE(d) OVER w AS first_d, "
        "date_diff('day', LAG(d) OVER w, d) AS step "
        f"FROM ({rows}) x WINDOW w AS (PARTITION BY customer_id ORDER BY d)"
    )
    g = "CAST(CASE WHEN step > 0 THEN step END AS BIGINT)"  # a gap between two purchase days
    exact = f"CAST(amt AS {EXACT})"  # cast after the sort: it carries 8-byte doubles, not 16
    n = f"COUNT({g})"  # whole days: the variance from exact sums
    gap_std = (
        f"CASE WHEN {n} > 1 THEN SQRT(GREATEST(CAST({n} * SUM({g} * {g}) - SUM({g}) * SUM({g}) "
        f"AS DOUBLE), 0) / ({n} * ({n} - 1))) END"
    )
    rfm = f"""SELECT customer_id,
        CAST({n} AS DOUBLE) AS frequency,
        CAST(date_diff('day', MIN(d), MAX(d)) AS DOUBLE) AS recency,
        CAST(date_diff('day', MIN(d), {date_lit(a.t)}) AS DOUBLE) AS "T",
        CASE WHEN {n} > 0 THEN CAST(SUM({exact}) - SUM(CASE WHEN d = first_d THEN {exact} ELSE 0 END)
             AS DOUBLE) / {n} ELSE 0 END AS monetary_value,
        CAST(date_diff('day', MAX(d), {date_lit(a.t)}) AS DOUBLE) AS days_since_last_tx,
        AVG({g}) AS gap_mean_days, {gap_std} AS gap_std_days,
        CAST(COUNT(*) AS BIGINT) AS n_tx_total
        FROM ({gaps}) g GROUP BY customer_id"""
    return _fam(
        "rfm",
        rfm,
        ["frequency", "recency", "T", "monetary_value", "days_since_last_tx"]
        + ["gap_mean_days", "gap_std_days", "n_tx_total"],
        ["frequency", "recency", "monetary_value", "n_tx_total"],
    )


def activity(a: AsOf, cfg: FeatureConfig) -> list[Family]:
    """Customer-initiated transactions: RFM, trailing windows, trends, gaps, channel mix."""
    t_next, excl = ts_lit(a.next_day), in_list(cfg.exclude_kinds)
    fams = [_rfm(a, cfg)]
    cols, zero, parts = [], [], []
    for w in cfg.windows:
        since = ts_lit(a.days_back(w))
        parts += [
            f"COUNT(CASE WHEN timestamp >= {since} THEN 1 END) AS n_tx_{w}d",
            exact_sum(f"CASE WHEN timestamp >= {since} THEN amount ELSE 0 END")
            + f" AS amount_{w}d",
        ]
        cols += [f"n_tx_{w}d", f"amount_{w}d"]
    prev90, last90 = ts_lit(a.days_back(180)), ts_lit(a.days_back(90))
    recent = f"timestamp >= {last90}"
    earlier = f"timestamp >= {prev90} AND timestamp < {last90}"
    parts += [
        f"COUNT(CASE WHEN {earlier} THEN 1 END) AS n_tx_prev_90d",
        exact_sum(f"CASE WHEN {earlier} THEN amount ELSE 0 END") + " AS amount_prev_90d",
        f"LN((1 + COUNT(CASE WHEN {recent} THEN 1 END)) / "
        f"(1 + COUNT(CASE WHEN {earlier} THEN 1 END))) AS tx_trend_90d",
        f"LN((1 + {exact_sum(f'CASE WHEN {recent} THEN amount ELSE 0 END')}) / "
        f"(1 + {exact_sum(f'CASE WHEN {earlier} THEN amount ELSE 0 END')})) AS amount_trend_90d",
    ]
    year = ts_lit(a.days_back(365))
    digital = in_list(cfg.digital_channels)
    share = {
        "digital_share": f"channel IN {digital}",
        "branch_share": "channel = 'branch'",
        "atm_share": "channel = 'atm'",
        "pos_share": "channel = 'pos'",
    }
    n365 = f"NULLIF(COUNT(CASE WHEN timestamp >= {year} THEN 1 END), 0)"
    for name, cond in share.items():
        parts.append(
            f"COUNT(CASE WHEN timestamp >= {year} AND {cond} THEN 1 END) / {n365} AS {name}"
        )
    parts.append(
        f"COUNT(CASE WHEN timestamp >= {year} AND channel = 'branch' THEN 1 END) AS branch_tx_365d"
    )
    trend = ["n_tx_prev_90d", "amount_prev_90d", "tx_trend_90d", "amount_trend_90d"]
    zero += cols + trend + ["branch_tx_365d"]
    cols += [*trend, *share, "branch_tx_365d"]
    win = (
        f"SELECT customer_id, {', '.join(parts)} FROM transactions "
        f"WHERE timestamp < {t_next} AND timestamp >= {ts_lit(a.days_back(max(365, *cfg.windows)))} "
        f"AND kind NOT IN {excl} GROUP BY customer_id"
    )
    fams.append(_fam("windows", win, cols, zero))
    return fams


def balances(a: AsOf, cfg: FeatureConfig) -> list[Family]:
    """Monthly balances by product family: latest, 3/12-month averages, peak, trend."""
    fam = case_map("a.product", dict(FAMILIES), "'other'")
    m_end, m12 = date_lit(a.month_end), date_lit(a.months_back(12))
    monthly = (
        f"SELECT a.customer_id, b.month, {fam} AS fam, SUM(CAST(b.avg_balance AS {EXACT})) AS bal "
        "FROM balances b JOIN accounts a ON a.account_id = b.account_id "
        f"WHERE b.month < {m_end} AND b.month >= {m12} GROUP BY 1, 2, 3"
    )
    last, m3, m6 = (date_lit(a.months_back(k)) for k in (1, 3, 6))
    parts, cols = [], []
    for f in BALANCE_FAMILIES:
        is_f = f"fam = '{f}'"
        recent = _dbl(f"SUM(CASE WHEN {is_f} AND month >= {m3} THEN bal ELSE 0 END)")
        before = _dbl(f"SUM(CASE WHEN {is_f} AND month >= {m6} AND month < {m3} THEN bal ELSE 0 END)")  # fmt: skip
        parts += [
            _dbl(f"SUM(CASE WHEN {is_f} AND month >= {last} THEN bal ELSE 0 END)")
            + f" AS bal_{f}_last",  # fmt: skip
            f"{recent} / 3.0 AS bal_{f}_avg_3m",
            _dbl(f"SUM(CASE WHEN {is_f} THEN bal ELSE 0 END)") + f" / 12.0 AS bal_{f}_avg_12m",
            _dbl(f"MAX(CASE WHEN {is_f} THEN bal ELSE 0 END)") + f" AS bal_{f}_peak_12m",
            f"LN((1 + {recent} / 3.0) / (1 + {before} / 3.0)) AS bal_{f}_trend",
        ]
        cols += [f"bal_{f}_{k}" for k in ("last", "avg_3m", "avg_12m", "peak_12m", "trend")]
    sql = f"SELECT customer_id, {', '.join(parts)} FROM ({monthly}) m GROUP BY customer_id"
    # from the balances family's CTE (feature_sql names it f_balances): the balances are
    # read and summed once, not again for these two sums
    rel = (
        "SELECT customer_id, bal_deposit_last + bal_investment_last AS aum_last, "
        "bal_deposit_last + bal_investment_last + bal_lending_last AS relationship_balance "
        "FROM f_balances s"
    )
    extra = ["aum_last", "relationship_balance"]
    return [_fam("balances", sql, cols, cols), _fam("relationship", rel, extra, extra)]


#: The purchase log's profit line, added to :data:`PROFIT_SQL` when the economics value purchases.
PURCHASE_LINE = "purchase_margin_12m"


def profitability(a: AsOf, cfg: FeatureConfig) -> list[Family]:
    """Current annual profit over the last 12 complete months (segml.economics definitions).

    When the economics value purchases (a purchase log, ``economics.kind``), the bank's lines
    are 0 and one more line, ``purchase_margin_12m``, holds the margin on the customer's
    purchases (customer-initiated debits) in those months.
    """
    e = cfg.economics.bank_lines()
    m_end, m12 = date_lit(a.month_end), date_lit(a.months_back(12))
    spread = case_map("a.product", e.spread)
    lgd = case_map("a.product", e.lgd)
    pd_prod = case_map("a.product", e.pd_by_product)
    pd_rating = case_map("r.credit_rating", e.pd_by_rating, "NULL")
    acc_cost = (
        f"CASE WHEN u.customer_type = 'corporate' THEN CAST({e.account_cost_corporate} AS DOUBLE) "
        f"ELSE CAST({e.account_cost_retail} AS DOUBLE) END"
    )
    rating = _latest_statement_sql(a, "credit_rating")
    bal = f"""SELECT b_a.customer_id,
        {computed_sum("b_a.bal * b_a.spread / 12")} AS nii_12m,
        {computed_sum("b_a.bal * b_a.lgd * COALESCE(b_a.pd_rating, b_a.pd_prod) / 12")} AS ecl_12m,
        {exact_sum("b_a.acc_cost")} AS account_cost_12m
        FROM (SELECT a.customer_id, b.avg_balance AS bal, {spread} AS spread, {lgd} AS lgd,
              {pd_prod} AS pd_prod, {pd_rating} AS pd_rating, {acc_cost} AS acc_cost
              FROM balances b JOIN accounts a ON a.account_id = b.account_id
              JOIN customers u ON u.customer_id = a.customer_id
              LEFT JOIN ({rating}) r ON r.customer_id = a.customer_id
              WHERE b.month < {m_end} AND b.month >= {m12}) b_a
        GROUP BY b_a.customer_id"""
    ch_cost = case_map("channel", {c: e.channel_cost[c] for c in CHANNELS})
    t_lo, t_hi = ts_lit(a.months_back(12)), ts_lit(a.month_end)
    fee = "CASE WHEN kind = 'fee' THEN amount ELSE 0 END"
    fee = "CAST(0 AS DOUBLE)" if cfg.economics.values_purchases else fee  # a retailer's: none
    tx = (
        f"SELECT customer_id, {exact_sum(fee)} AS fee_income_12m, "
        f"{exact_sum(ch_cost)} AS channel_cost_12m FROM transactions "
        f"WHERE timestamp >= {t_lo} AND timestamp < {t_hi} GROUP BY customer_id"
    )
    ic = case_map("kind", e.interaction_cost)
    inter = (
        f"SELECT customer_id, {exact_sum(ic)} AS service_cost_12m FROM interactions "
        f"WHERE timestamp >= {t_lo} AND timestamp < {t_hi} GROUP BY customer_id"
    )
    fams = [
        _fam(
            "margin",
            bal,
            ["nii_12m", "ecl_12m", "account_cost_12m"],
            ["nii_12m", "ecl_12m", "account_cost_12m"],
        ),  # fmt: skip
        _fam(
            "fees",
            tx,
            ["fee_income_12m", "channel_cost_12m"],
            ["fee_income_12m", "channel_cost_12m"],
        ),  # fmt: skip
        _fam("service_cost", inter, ["service_cost_12m"], ["service_cost_12m"]),
    ]
    if cfg.economics.values_purchases:
        margin = _dbl(f"{cfg.economics.purchase_margin!r}")
        total = _dbl(f"SUM(CAST(amount AS {EXACT}))")
        buys = (
            f"SELECT customer_id, {margin} * {total} AS {PURCHASE_LINE} "
            f"FROM transactions WHERE timestamp >= {t_lo} AND timestamp < {t_hi} "
            f"AND direction = 'debit' AND kind NOT IN {in_list(cfg.exclude_kinds)} "
            "GROUP BY customer_id"
        )
        fams.append(_fam("purchases", buys, [PURCHASE_LINE], [PURCHASE_LINE]))
    return fams


PROFIT_SQL = (
    "nii_12m + fee_income_12m - ecl_12m - account_cost_12m - channel_cost_12m - service_cost_12m"
)


def profit_sql(cfg: FeatureConfig) -> str:
    """Annual profit as the sum of the lines :func:`profitability` gives under ``cfg``."""
    return f"{PROFIT_SQL} + {PURCHASE_LINE}" if cfg.economics.values_purchases else PROFIT_SQL


def holdings(a: AsOf, cfg: FeatureConfig) -> list[Family]:
    """Products held at the as-of date: counts, breadth, tenure by family, flags."""
    t = date_lit(a.t)
    fam = case_map("product", dict(FAMILIES), "'other'")
    open_now = f"open_date <= {t} AND (close_date IS NULL OR close_date > {t})"
    flags = [
        f"MAX(CASE WHEN {open_now} AND product = '{p}' THEN 1 ELSE 0 END) AS has_{p}"
        for p in PRODUCTS
    ]
    tenure = [
        f"CAST(date_diff('day', MIN(CASE WHEN {fam} = '{f}' THEN open_date END), {t}) AS DOUBLE) / 30.4375 "
        f"AS tenure_{f}_months"
        for f in BALANCE_FAMILIES
    ]
    sql = f"""SELECT customer_id,
        COUNT(CASE WHEN {open_now} THEN 1 END) AS n_accounts_open,
        COUNT(DISTINCT CASE WHEN {open_now} THEN product END) AS n_products,
        COUNT(DISTINCT CASE WHEN {open_now} THEN {fam} END) AS cross_sell_depth,
        COUNT(DISTINCT product) AS n_products_ever,
        {", ".join(flags + tenure)}
        FROM accounts WHERE open_date <= {t} GROUP BY customer_id"""
    counts = ["n_accounts_open", "n_products", "cross_sell_depth", "n_products_ever"]
    cols = (
        counts + [f"has_{p}" for p in PRODUCTS] + [f"tenure_{f}_months" for f in BALANCE_FAMILIES]
    )
    return [_fam("holdings", sql, cols, counts + [f"has_{p}" for p in PRODUCTS])]


def service(a: AsOf, cfg: FeatureConfig) -> list[Family]:
    """Complaints (point-in-time resolution), satisfaction and service contacts."""
    t, t_next, year = date_lit(a.t), ts_lit(a.next_day), ts_lit(a.days_back(365))
    # a complaint is unresolved at t unless it was resolved before t_next; without
    # resolved_at, the extract's resolved flag is all we have (see docs/features.md)
    unresolved = (
        f"CASE WHEN resolved_at IS NOT NULL THEN resolved_at >= {t_next} "
        "ELSE NOT COALESCE(resolved, FALSE) END"
    )
    agg = f"""SELECT customer_id,
        COUNT(CASE WHEN kind = 'complaint' THEN 1 END) AS complaints_total,
        COUNT(CASE WHEN kind = 'complaint' AND timestamp >= {year} THEN 1 END) AS complaints_365d,
        COUNT(CASE WHEN kind = 'complaint' AND {unresolved} THEN 1 END) AS complaints_unresolved,
        date_diff('day', CAST(MAX(CASE WHEN kind = 'complaint' THEN timestamp END) AS DATE), {t})
            AS days_since_last_complaint,
        AVG(CASE WHEN kind = 'survey' AND timestamp >= {year} THEN score END) AS satisfaction_avg_365d,
        COUNT(CASE WHEN kind = 'service_contact' AND timestamp >= {year} THEN 1 END)
            AS service_contacts_365d,
        COUNT(CASE WHEN channel = 'branch' AND timestamp >= {year} THEN 1 END)
            AS branch_contacts_365d
        FROM interactions WHERE timestamp < {t_next} GROUP BY customer_id"""
    last = f"""SELECT customer_id, score AS satisfaction_last FROM (
        SELECT customer_id, score, ROW_NUMBER() OVER (PARTITION BY customer_id
            ORDER BY timestamp DESC, interaction_id DESC) AS rn
        FROM interactions WHERE kind = 'survey' AND score IS NOT NULL AND timestamp < {t_next}) s
        WHERE rn = 1"""
    counts = ["complaints_total", "complaints_365d", "complaints_unresolved"]
    counts += ["service_contacts_365d", "branch_contacts_365d"]
    cols = counts[:3] + ["days_since_last_complaint", "satisfaction_avg_365d"] + counts[3:]
    return [
        _fam("service", agg, cols, counts),
        _fam("satisfaction", last, ["satisfaction_last"], []),
    ]


def _latest_statement_sql(a: AsOf, *cols: str) -> str:
    """Each corporate client's latest statement known at t (and the previous one's revenue)."""
    known = (
        "COALESCE(report_date, CAST(make_date(CAST(fiscal_year AS INT), 12, 31) "
        "+ INTERVAL 120 DAY AS DATE))"
    )
    pick = ", ".join(cols)
    return f"""SELECT customer_id, {pick} FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY fiscal_year DESC) AS rn,
            LEAD(revenue) OVER (PARTITION BY customer_id ORDER BY fiscal_year DESC) AS prev_revenue,
            CAST(SUM(COALESCE(credit_events, 0)) OVER (PARTITION BY customer_id ORDER BY fiscal_year
                ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS BIGINT) AS events_3y,
            {known} AS known_date
        FROM corporate_financials WHERE {known} <= {date_lit(a.t)}) f WHERE rn = 1"""


def corporate(a: AsOf, cfg: FeatureConfig) -> list[Family]:
    """Ratios from the latest known statement: leverage, liquidity, ROA, growth, scale, DPD."""
    inner = _latest_statement_sql(
        a,
        *STATEMENT_AMOUNTS,
        "days_past_due",
        "events_3y",
        "credit_rating",
        "prev_revenue",
        "known_date",
    )
    sql = f"""SELECT customer_id,
        revenue AS fin_revenue, total_assets AS fin_total_assets,
        total_liabilities / NULLIF(total_assets, 0) AS fin_leverage,
        current_assets / NULLIF(current_liabilities, 0) AS fin_current_ratio,
        net_income / NULLIF(total_assets, 0) AS fin_roa,
        revenue / NULLIF(prev_revenue, 0) - 1 AS fin_revenue_growth,
        revenue / NULLIF(total_assets, 0) AS fin_asset_turnover,
        days_past_due AS fin_days_past_due, events_3y AS fin_credit_events_3y,
        credit_rating AS fin_credit_rating,
        date_diff('day', known_date, {date_lit(a.t)}) AS fin_statement_age_days
        FROM ({inner}) s"""
    cols = ["fin_revenue", "fin_total_assets", "fin_leverage", "fin_current_ratio", "fin_roa"]
    cols += ["fin_revenue_growth", "fin_asset_turnover", "fin_days_past_due"]
    cols += ["fin_credit_events_3y", "fin_credit_rating", "fin_statement_age_days"]
    return [_fam("corporate", sql, cols, [])]


ALL_FAMILIES = (activity, balances, profitability, holdings, service, corporate)
