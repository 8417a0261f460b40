"""The bank data contract: the tables segml reads, their columns, keys and rules.

The contract is data, not code: :data:`CONTRACT` lists every table as a :class:`TableSpec`
and :data:`CROSS_RULES` lists the rules that span tables. :mod:`segml.validate` turns both into
DuckDB queries, and ``docs/data_contract.md`` documents the same objects (a test keeps them in
step).

Conventions
-----------
* Identifiers (``*_id``) are text. Integer ids are accepted and read as their decimal text.
* Money is in the bank's reporting currency, as a positive amount; the sign of a transaction
  is carried by ``direction`` (``credit`` = money into the account, ``debit`` = out of it).
  Loan balances are positive outstanding amounts.
* ``balances.month`` is the first day of the month the average balance describes; a month's
  balance is known at the month's end.
* Rates are fractions per year (0.035 = 3.5%).
* Amounts are bounded by :data:`MAX_MONEY` and dates by :data:`MIN_DATE` and the reference
  date; dates isolated far from the rest of their column (:func:`isolated_day_edges`) are
  reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

DType = Literal["id", "string", "category", "int", "float", "bool", "date", "timestamp"]
Severity = Literal["error", "warning"]

#: The product catalogue: product -> (family, balance-sheet side).
PRODUCTS: dict[str, tuple[str, str]] = {
    "current_account": ("deposit", "liability"),
    "savings_deposit": ("deposit", "liability"),
    "term_deposit": ("deposit", "liability"),
    "wealth_fund": ("investment", "off_balance"),
    "mortgage": ("lending", "asset"),
    "consumer_loan": ("lending", "asset"),
    "credit_card": ("lending", "asset"),
    "corporate_current": ("deposit", "liability"),
    "corporate_deposit": ("deposit", "liability"),
    "corporate_loan": ("lending", "asset"),
    "trade_finance": ("lending", "asset"),
    "other": ("other", "off_balance"),
}
CHANNELS = ("branch", "atm", "mobile", "online", "pos", "phone", "rm", "system", "other")
TRANSACTION_KINDS = (
    "salary",
    "pension",
    "transfer_in",
    "transfer_out",
    "card_payment",
    "cash_withdrawal",
    "cash_deposit",
    "bill_payment",
    "loan_repayment",
    "loan_drawdown",
    "investment",
    "fee",
    "interest",
    "purchase",
    "refund",
    "other",
)
INTERACTION_KINDS = ("complaint", "survey", "service_contact")
CUSTOMER_TYPES = ("retail", "corporate")
GENDERS = ("F", "M", "other", "unknown")
INCOME_BANDS = ("low", "lower_middle", "middle", "upper_middle", "high")
#: Money columns of a corporate statement (``corporate_financials``).
STATEMENT_AMOUNTS = (
    "revenue",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "net_income",
)
CREDIT_RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D")

#: The largest amount of money one value may hold, in any currency (|amount| <= 1e18).
#: The features sum money exactly as DECIMAL(38, 6), which holds |x| < 1e32: a customer's sum
#: of n values of at most 1e18 stays below n * 1e18, so it fits for any n < 1e14 rows of one
#: customer (a hundred trillion; the largest extracts hold billions of rows in all). No bank
#: amount comes near 1e18: even in Iranian rials (about a million to the US dollar) it is a
#: trillion dollars, more than any bank holds for one customer or any company reports.
MAX_MONEY = 1e18
#: The earliest date the contract accepts in any date or timestamp column (inclusive); earlier
#: dates are placeholders (0001-01-01, 1753-01-01, Excel's 1899-12-30) or typos.
MIN_DATE = dt.date(1900, 1, 1)
#: A gap isolates the dates beyond it when it is wider than this many times the middle half
#: of its column's dates (Tukey's "far out" multiple) and than :data:`MIN_ISOLATING_GAP_DAYS`;
#: see :func:`isolated_day_edges`.
ISOLATING_GAP_IQRS = 3
#: The narrowest gap (days) that isolates a date from the bulk of its column.
MIN_ISOLATING_GAP_DAYS = 365


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table.

    Parameters
    ----------
    name : str
        Column name in the contract (a user's own name is mapped onto it by config).
    dtype : str
        Logical type: ``id``, ``string``, ``category``, ``int``, ``float``, ``bool``, ``date``
        or ``timestamp``.
    required : bool
        Whether the column must be present in an extract.
    nullable : bool
        Whether missing values are allowed.
    allowed : tuple of str, optional
        Allowed values of a ``category`` column.
    min, max : float, optional
        Inclusive range of a numeric column (``int``/``float``) or of a year; money columns
        (``unit="currency"``) are bounded by :data:`MAX_MONEY`.
    not_future : bool
        Dates/timestamps must not lie after the reference date (today by default). Every date
        and timestamp column must also be on or after :data:`MIN_DATE`, and dates isolated from
        the rest of their column are reported as warnings (:func:`isolated_day_edges`).
    unit, description : str
        Documentation, shown in ``docs/data_contract.md`` and in feature explanations.
    """

    name: str
    dtype: DType
    required: bool = True
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    not_future: bool = False
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class TableSpec:
    """One contract table: its columns, primary key and whether an extract must have it."""

    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]
    required: bool = True

    def column(self, name: str) -> ColumnSpec:
        """Return the column called ``name`` (``KeyError`` if the contract has none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        """Names of all contract columns, in contract order."""
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class CrossRule:
    """A rule over one or more tables, checked by a query that returns the offending rows.

    ``sql`` selects the offending rows from the typed views (named after the tables) and must
    return the key columns first. ``needs`` lists ``table.column`` references that must be present
    and well-typed for the rule to be checked. Optionally ``scan`` (a ``FROM`` clause) and
    ``where`` (a condition over it) count the same rows: rules that share a ``scan`` are counted
    together in one pass over the table (a large transactions table is read once for all its
    account rules, not once per rule); ``sql`` still lists the examples.
    """

    name: str
    table: str
    column: str
    description: str
    sql: str
    needs: tuple[str, ...]
    severity: Severity = "error"
    scan: str = ""
    where: str = ""


def _c(name: str, dtype: DType, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, dtype, **kw)  # type: ignore[arg-type]


def _money(name: str, signed: bool = False, **kw: object) -> ColumnSpec:
    """A money column: at most :data:`MAX_MONEY` in size, positive unless ``signed``."""
    low = -MAX_MONEY if signed else 0.0
    return _c(name, "float", min=low, max=MAX_MONEY, unit="currency", **kw)


CUSTOMERS = TableSpec(
    "customers",
    "One row per customer (retail person or corporate client) known to the bank.",
    (
        _c("customer_id", "id", description="Customer key."),
        _c("customer_type", "category", allowed=CUSTOMER_TYPES, description="retail or corporate."),
        _c("open_date", "date", not_future=True, description="Start of the relationship."),
        _c(
            "close_date",
            "date",
            required=False,
            nullable=True,
            not_future=True,
            description="End of the relationship; empty while active.",
        ),
        _c("region", "string", required=False, nullable=True, description="Region or branch area."),
        _c(
            "birth_year",
            "int",
            required=False,
            nullable=True,
            min=1900,
            max=2030,
            description="Retail: year of birth (no exact birth dates are needed).",
        ),
        _c("gender", "category", required=False, nullable=True, allowed=GENDERS),
        _c("income_band", "category", required=False, nullable=True, allowed=INCOME_BANDS),
        _c("occupation", "string", required=False, nullable=True),
        _c("industry", "string", required=False, nullable=True, description="Corporate: sector."),
        _c("employees", "int", required=False, nullable=True, min=0, unit="persons"),
    ),
    ("customer_id",),
)

ACCOUNTS = TableSpec(
    "accounts",
    "One row per account or facility; product from the segml product catalogue.",
    (
        _c("account_id", "id"),
        _c("customer_id", "id", description="The customer who holds the account."),
        _c("product", "category", allowed=tuple(PRODUCTS), description="Catalogue product."),
        _c("open_date", "date", not_future=True),
        _c("close_date", "date", required=False, nullable=True, not_future=True),
        _c(
            "interest_rate",
            "float",
            required=False,
            nullable=True,
            min=-0.05,
            max=1.0,
            unit="fraction per year",
        ),
    ),
    ("account_id",),
)

BALANCES = TableSpec(
    "balances",
    "Monthly average balance per account (monthly snapshots).",
    (
        _c("account_id", "id"),
        _c("month", "date", not_future=True, description="First day of the month described."),
        _money("avg_balance", description="Average balance."),
    ),
    ("account_id", "month"),
    required=False,
)

TRANSACTIONS = TableSpec(
    "transactions",
    "One row per posted transaction.",
    (
        _c("transaction_id", "id"),
        _c("account_id", "id"),
        _c("customer_id", "id", description="Holder of the account."),
        _c("timestamp", "timestamp", not_future=True),
        _money("amount", description="Positive amount."),
        _c("direction", "category", allowed=("credit", "debit")),
        _c("channel", "category", allowed=CHANNELS),
        _c("kind", "category", allowed=TRANSACTION_KINDS),
    ),
    ("transaction_id",),
)

INTERACTIONS = TableSpec(
    "interactions",
    "Complaints, satisfaction surveys and service contacts.",
    (
        _c("interaction_id", "id"),
        _c("customer_id", "id"),
        _c("timestamp", "timestamp", not_future=True),
        _c("kind", "category", allowed=INTERACTION_KINDS),
        _c("score", "float", required=False, nullable=True, min=0.0, max=10.0, unit="0-10"),
        _c("resolved", "bool", required=False, nullable=True, description="Complaints only."),
        _c(
            "resolved_at",
            "timestamp",
            required=False,
            nullable=True,
            not_future=True,
            description="When a complaint was resolved; empty while open.",
        ),
        _c("channel", "category", required=False, nullable=True, allowed=CHANNELS),
    ),
    ("interaction_id",),
    required=False,
)

CORPORATE_FINANCIALS = TableSpec(
    "corporate_financials",
    "Yearly financial statements and credit facts of corporate clients.",
    (
        _c("customer_id", "id"),
        _c("fiscal_year", "int", min=1900, max=2100),
        _c(
            "report_date",
            "date",
            required=False,
            nullable=True,
            not_future=True,
            description="When the statement became known (point-in-time features use it).",
        ),
        _money("revenue"),
        _money("total_assets"),
        _money("total_liabilities"),
        _money("current_assets"),
        _money("current_liabilities"),
        _money("net_income", signed=True),
        _c("days_past_due", "int", min=0, unit="days", description="Worst DPD in the year."),
        _c("credit_events", "int", required=False, nullable=True, min=0, unit="count"),
        _c("credit_rating", "category", required=False, nullable=True, allowed=CREDIT_RATINGS),
    ),
    ("customer_id", "fiscal_year"),
    required=False,
)

#: All contract tables by name, in load order (parents before children).
CONTRACT: dict[str, TableSpec] = {
    t.name: t
    for t in (CUSTOMERS, ACCOUNTS, BALANCES, TRANSACTIONS, INTERACTIONS, CORPORATE_FINANCIALS)
}


#: Alias of each parent table in the shared scans.
_ALIAS = {"accounts": "a", "customers": "u"}


def _scan(table: str, parent: str, col: str) -> str:
    """``table c LEFT JOIN parent`` on ``col``: the pass shared by the rules joining them (a
    LEFT JOIN keeps the orphans, and gives the joined rules the rows their JOIN gives)."""
    a = _ALIAS[parent]
    return f"{table} c LEFT JOIN {parent} {a} ON {a}.{col} = c.{col}"


def _orphan(table: str, col: str, parent: str, pcol: str, keys: str) -> CrossRule:
    a = _ALIAS[parent]
    return CrossRule(
        name="orphan",
        table=table,
        column=col,
        description=f"every {table}.{col} exists in {parent}.{pcol}",
        sql=(
            f"SELECT {keys}, c.{col} AS value FROM {table} c "
            f"WHERE c.{col} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE p.{pcol} = c.{col})"
        ),
        needs=(f"{table}.{col}", f"{parent}.{pcol}"),
        scan=_scan(table, parent, col) if col == pcol else "",
        where=f"c.{col} IS NOT NULL AND {a}.{pcol} IS NULL" if col == pcol else "",
    )


def _before(
    table: str, col: str, ref: str, keys: str, desc: str, needs: tuple[str, ...], join: str = ""
) -> CrossRule:
    scan = ""
    if join:  # _ACC or _CUS
        parent = "accounts" if join == _ACC else "customers"
        scan = _scan(table, parent, "account_id" if parent == "accounts" else "customer_id")
    return CrossRule(
        name="order",
        table=table,
        column=col,
        description=desc,
        sql=f"SELECT {keys}, c.{col} AS value FROM {table} c {join} WHERE c.{col} < {ref}",
        needs=(f"{table}.{col}", *needs),
        scan=scan,
        where=f"c.{col} < {ref}" if scan else "",
    )


_ACC = "JOIN accounts a ON a.account_id = c.account_id"
_CUS = "JOIN customers u ON u.customer_id = c.customer_id"

CROSS_RULES: tuple[CrossRule, ...] = (
    _orphan("accounts", "customer_id", "customers", "customer_id", "c.account_id"),
    _orphan("balances", "account_id", "accounts", "account_id", "c.account_id, c.month"),
    _orphan("transactions", "account_id", "accounts", "account_id", "c.transaction_id"),
    _orphan("transactions", "customer_id", "customers", "customer_id", "c.transaction_id"),
    _orphan("interactions", "customer_id", "customers", "customer_id", "c.interaction_id"),
    _orphan(
        "corporate_financials",
        "customer_id",
        "customers",
        "customer_id",
        "c.customer_id, c.fiscal_year",
    ),
    CrossRule(
        "holder_mismatch",
        "transactions",
        "customer_id",
        "transactions.customer_id is the holder of transactions.account_id",
        f"SELECT c.transaction_id, c.customer_id AS value FROM transactions c {_ACC} "
        "WHERE c.customer_id <> a.customer_id",
        ("transactions.customer_id", "transactions.account_id", "accounts.customer_id"),
        scan=_scan("transactions", "accounts", "account_id"),
        where="c.customer_id <> a.customer_id",
    ),
    _before(
        "transactions",
        "timestamp",
        "a.open_date",
        "c.transaction_id",
        "no transaction before its account opened",
        ("transactions.account_id", "accounts.open_date"),
        _ACC,
    ),
    CrossRule(
        "after_close",
        "transactions",
        "timestamp",
        "no transaction after the day its account closed",
        f"SELECT c.transaction_id, c.timestamp AS value FROM transactions c {_ACC} "
        "WHERE a.close_date IS NOT NULL AND c.timestamp >= a.close_date + INTERVAL 1 DAY",
        ("transactions.timestamp", "transactions.account_id", "accounts.close_date"),
        scan=_scan("transactions", "accounts", "account_id"),
        where="a.close_date IS NOT NULL AND c.timestamp >= a.close_date + INTERVAL 1 DAY",
    ),
    _before(
        "balances",
        "month",
        "date_trunc('month', a.open_date)",
        "c.account_id, c.month",
        "no balance for a month before the account opened",
        ("accounts.open_date",),
        _ACC,
    ),
    _before(
        "accounts",
        "open_date",
        "u.open_date",
        "c.account_id",
        "no account opened before its customer's relationship began",
        ("accounts.customer_id", "customers.open_date"),
        _CUS,
    ),
    _before(
        "accounts",
        "close_date",
        "c.open_date",
        "c.account_id",
        "close_date >= open_date",
        ("accounts.open_date",),
    ),
    _before(
        "customers",
        "close_date",
        "c.open_date",
        "c.customer_id",
        "close_date >= open_date",
        ("customers.open_date",),
    ),
    _before(
        "interactions",
        "resolved_at",
        "c.timestamp",
        "c.interaction_id",
        "a complaint is resolved after it is raised",
        ("interactions.timestamp",),
    ),
    CrossRule(
        "first_of_month",
        "balances",
        "month",
        "balances.month is the first day of a month",
        "SELECT c.account_id, c.month AS value FROM balances c WHERE day(c.month) <> 1",
        ("balances.month",),
    ),
    CrossRule(
        "not_corporate",
        "corporate_financials",
        "customer_id",
        "corporate_financials only for customers of type corporate",
        f"SELECT c.customer_id, c.fiscal_year, u.customer_type AS value "
        f"FROM corporate_financials c {_CUS} WHERE u.customer_type <> 'corporate'",
        ("corporate_financials.customer_id", "customers.customer_type"),
    ),
    CrossRule(
        "exceeds_total",
        "corporate_financials",
        "current_assets",
        "current_assets <= total_assets",
        "SELECT c.customer_id, c.fiscal_year, c.current_assets AS value "
        "FROM corporate_financials c WHERE c.current_assets > c.total_assets * (1 + 1e-9)",
        ("corporate_financials.current_assets", "corporate_financials.total_assets"),
    ),
    CrossRule(
        "score_without_survey",
        "interactions",
        "score",
        "a survey has a score",
        "SELECT c.interaction_id, c.score AS value FROM interactions c "
        "WHERE c.kind = 'survey' AND c.score IS NULL",
        ("interactions.kind", "interactions.score"),
        severity="warning",
    ),
    CrossRule(
        "zero_amount",
        "transactions",
        "amount",
        "transactions have a non-zero amount",
        "SELECT c.transaction_id, c.amount AS value FROM transactions c WHERE c.amount = 0",
        ("transactions.amount",),
        severity="warning",
    ),
)


def product_family(product: str) -> str:
    """Return the family (deposit, investment, lending, other) of a catalogue product."""
    return PRODUCTS[product][0]


def isolated_day_edges(
    days: Sequence[dt.date], counts: Sequence[int]
) -> tuple[dt.date | None, dt.date | None]:
    """The edges of a date column's bulk: dates outside them are isolated.

    The bulk grows outward from the column's middle half (between its quartiles) until a gap
    with no dates wider than :data:`ISOLATING_GAP_IQRS` times the middle half, and than
    :data:`MIN_ISOLATING_GAP_DAYS`, separates it from the dates beyond. Those dates lie far from
    every other date on their side of the data (a 1970-01-01 or 2099-12-31 placeholder among
    2021-2025 transactions, a year typed 2052 for 2025); a long history with no such gap
    (customers who opened in every decade since 1960) has none, nor has the thin early tail of
    a column (a few accounts closed years before the rest).

    Parameters
    ----------
    days : sequence of date
        The distinct days of the column, in increasing order.
    counts : sequence of int
        How many values fall on each day.

    Returns
    -------
    (date or None, date or None)
        The first and last day of the bulk: days before the first or after the last are
        isolated; None where no day is isolated on that side.
    """
    total = sum(counts)
    if total == 0:
        return None, None
    seen, q1, q3 = 0, -1, -1
    for i, n in enumerate(counts):
        seen += n
        if q1 < 0 and 4 * seen >= total:
            q1 = i
        if 4 * seen >= 3 * total:
            q3 = i
            break
    gap = max(ISOLATING_GAP_IQRS * (days[q3] - days[q1]).days, MIN_ISOLATING_GAP_DAYS)
    lo = next((days[i] for i in range(q1, 0, -1) if (days[i] - days[i - 1]).days > gap), None)
    last = len(days) - 1
    hi = next((days[i] for i in range(q3, last) if (days[i + 1] - days[i]).days > gap), None)
    return lo, hi
