"""Documentation of every feature: family, unit, display name and definition.

This is the single source for ``docs/features.md`` (``tools/write_features_doc.py``) and for
the display names and units that explanations quote. A test checks that every column the
builder produces is documented here.
"""

from __future__ import annotations

from dataclasses import dataclass

from segml.contract import PRODUCTS
from segml.features.families import BALANCE_FAMILIES

#: Feature version: bump when a definition changes (saved with models that use the features).
FEATURES_VERSION = "1"


@dataclass(frozen=True)
class FeatureDoc:
    """One feature's documentation."""

    name: str
    family: str
    unit: str
    display: str
    definition: str
    demographic: bool = False
    facet: str = ""

    @property
    def group(self) -> str:
        """The thing this feature is a facet of (its own name when it stands alone)."""
        return self.facet or self.name


def _d(name: str, family: str, unit: str, display: str, definition: str, **kw: bool) -> FeatureDoc:
    return FeatureDoc(name, family, unit, display, definition, **kw)


def _catalogue() -> list[FeatureDoc]:
    """Every feature's documentation, family by family (this order is the catalogue's)."""
    return [
        *_customer_docs(),
        *_rfm_docs(),
        *_window_docs(),
        *_channel_docs(),
        *_balance_docs(),
        *_profitability_docs(),
        *_holdings_docs(),
        *_service_docs(),
        *_corporate_docs(),
    ]


def _customer_docs() -> list[FeatureDoc]:
    """Key, customer, demographic and corporate-profile features."""
    return [
        _d("customer_id", "key", "", "customer", "Customer key."),
        _d("customer_type", "customer", "", "customer type", "retail or corporate."),
        _d("is_active", "customer", "0/1", "active", "1 if the relationship is open at t."),
        _d("tenure_months", "customer", "months", "tenure", "Days since open_date / 30.4375."),
        _d("region", "demographic", "", "region", "Region.", demographic=True),
        _d("gender", "demographic", "", "gender", "Gender.", demographic=True),
        _d("age", "demographic", "years", "age", "Year of t minus birth year.", demographic=True),
        _d("age_band", "demographic", "", "age band", "18-24, 25-34, …, 65+.", demographic=True),
        _d("income_band", "demographic", "", "income band", "Income band.", demographic=True),
        _d("occupation", "demographic", "", "occupation", "Occupation.", demographic=True),
        _d("industry", "corporate", "", "industry", "Corporate: industry."),
        _d("employees", "corporate", "persons", "employees", "Corporate: employees."),
    ]


def _rfm_docs() -> list[FeatureDoc]:
    """Family *rfm*: recency, frequency and spend of customer-initiated activity."""
    rfm = "Customer-initiated transactions (kinds other than fee, interest, salary, pension, loan_repayment) up to t, one per calendar day (lifetimes' definitions, freq D)"
    return [
        _d("frequency", "rfm", "days", "repeat purchase days", f"{rfm}: number of days with activity after the first one."),
        _d("recency", "rfm", "days", "recency", f"{rfm}: days from the first to the last active day (0 if none)."),
        _d("T", "rfm", "days", "customer age (T)", f"{rfm}: days from the first active day to t; empty if none."),
        _d("monetary_value", "rfm", "CNY", "average spend per repeat day", f"{rfm}: mean daily amount over repeat days (0 if none)."),
        _d("days_since_last_tx", "rfm", "days", "days since last transaction", "Days from the last active day to t; empty if none."),
        _d("gap_mean_days", "rfm", "days", "mean gap between active days", "Mean of the gaps between consecutive active days."),
        _d("gap_std_days", "rfm", "days", "spread of gaps", "Sample standard deviation of those gaps."),
        _d("n_tx_total", "rfm", "count", "transactions to date", "Customer-initiated transactions up to t."),
    ]  # fmt: skip


def _window_docs() -> list[FeatureDoc]:
    """Family *windows*: activity over trailing windows and its trend."""
    out: list[FeatureDoc] = []
    for w in (30, 90, 365):
        out += [
            _d(f"n_tx_{w}d", "windows", "count", f"transactions in {w} days", f"Customer-initiated transactions in the {w} days up to t."),
            _d(f"amount_{w}d", "windows", "CNY", f"amount in {w} days", "Their summed amount (credits and debits)."),
        ]  # fmt: skip
    return out + [
        _d("n_tx_prev_90d", "windows", "count", "transactions in the previous 90 days", "Customer-initiated transactions 180 to 91 days before t."),
        _d("amount_prev_90d", "windows", "CNY", "amount in the previous 90 days", "Their summed amount."),
        _d("tx_trend_90d", "windows", "log ratio", "activity trend", "ln((1 + n_tx_90d) / (1 + n_tx_prev_90d)): above 0 means rising."),
        _d("amount_trend_90d", "windows", "log ratio", "amount trend", "ln((1 + amount_90d) / (1 + amount_prev_90d))."),
    ]  # fmt: skip


def _channel_docs() -> list[FeatureDoc]:
    """Family *channel*: where the customer transacts."""
    return [
        _d("digital_share", "channel", "share", "digital share", "Share of the last 365 days' customer-initiated transactions on mobile or online; empty if none."),
        _d("branch_share", "channel", "share", "branch reliance", "Share of them in a branch."),
        _d("atm_share", "channel", "share", "ATM share", "Share of them at an ATM."),
        _d("pos_share", "channel", "share", "card-payment share", "Share of them at a point of sale."),
        _d("branch_tx_365d", "channel", "count", "branch transactions", "Branch transactions in the last 365 days."),
    ]  # fmt: skip


def _balance_docs() -> list[FeatureDoc]:
    """Family *balances*: balances per product family, AUM and the relationship total."""
    kinds = {
        "last": ("CNY", "balance last month", "Sum of the family's monthly average balances in the last complete month."),
        "avg_3m": ("CNY", "3-month average balance", "Mean monthly total over the last 3 complete months (missing months count 0)."),
        "avg_12m": ("CNY", "12-month average balance", "Mean monthly total over the last 12 complete months."),
        "peak_12m": ("CNY", "12-month peak balance", "Highest monthly total in the last 12 complete months."),
        "trend": ("log ratio", "balance trend", "ln((1 + 3-month average) / (1 + average of the 3 months before))."),
    }  # fmt: skip
    out: list[FeatureDoc] = []
    for f in BALANCE_FAMILIES:
        for k, (unit, disp, text) in kinds.items():
            out.append(
                _d(
                    f"bal_{f}_{k}",
                    "balances",
                    unit,
                    f"{f} {disp}",
                    f"{f.capitalize()} products: {text}",
                )
            )
    return out + [
        _d("aum_last", "balances", "CNY", "assets under management", "Deposit + investment balances, last complete month."),
        _d("relationship_balance", "balances", "CNY", "total relationship balance", "Deposits + investments + loans outstanding, last complete month."),
    ]  # fmt: skip


def _profitability_docs() -> list[FeatureDoc]:
    """Family *profitability*: the lines of the customer's annual profit."""
    return [
        _d("nii_12m", "profitability", "CNY/year", "net interest and AUM income", "Σ monthly balance × product spread / 12 over the last 12 complete months (segml.economics)."),
        _d("ecl_12m", "profitability", "CNY/year", "expected credit loss", "Σ lending balance × PD × LGD / 12; PD from the latest known credit rating, else the product's average."),
        _d("account_cost_12m", "profitability", "CNY/year", "account servicing cost", "Account-months × cost per account-month."),
        _d("fee_income_12m", "profitability", "CNY/year", "fee income", "Fee transactions in the last 12 complete months."),
        _d("channel_cost_12m", "profitability", "CNY/year", "transaction cost", "Σ channel cost of every transaction in those months."),
        _d("service_cost_12m", "profitability", "CNY/year", "service cost", "Σ cost of complaints, surveys and service contacts in those months."),
        _d("purchase_margin_12m", "profitability", "CNY/year", "margin on purchases", "Purchase logs only: purchase_margin × customer-initiated debits (purchases) in the last 12 complete months; the bank's lines are then 0 (segml.economics)."),
        _d("profit_12m", "profitability", "CNY/year", "annual profit", "Current annual profit: nii + fees − ECL − account, channel and service costs; for a purchase log the margin on purchases."),
    ]  # fmt: skip


def _holdings_docs() -> list[FeatureDoc]:
    """Family *holdings*: accounts and products held, and tenure per product family."""
    out = [
        _d("n_accounts_open", "holdings", "count", "open accounts", "Accounts open at t."),
        _d("n_products", "holdings", "count", "products held", "Distinct products open at t (breadth)."),
        _d("cross_sell_depth", "holdings", "count", "product families held", "Distinct product families (deposit, investment, lending) open at t."),
        _d("n_products_ever", "holdings", "count", "products ever held", "Distinct products opened up to t."),
    ]  # fmt: skip
    for p in PRODUCTS:
        out.append(
            _d(
                f"has_{p}",
                "holdings",
                "0/1",
                f"holds {p.replace('_', ' ')}",
                f"1 if a {p} account is open at t.",
            )
        )
    for f in BALANCE_FAMILIES:
        out.append(
            _d(
                f"tenure_{f}_months",
                "holdings",
                "months",
                f"{f} tenure",
                f"Months since the first {f} product opened; empty if never.",
            )
        )
    return out


def _service_docs() -> list[FeatureDoc]:
    """Family *service*: complaints, satisfaction and service contacts."""
    return [
        _d("complaints_total", "service", "count", "complaints", "Complaints up to t."),
        _d("complaints_365d", "service", "count", "complaints this year", "Complaints in the 365 days up to t."),
        _d("complaints_unresolved", "service", "count", "unresolved complaints", "Complaints not resolved by t (resolved_at ≥ t+1 or open)."),
        _d("days_since_last_complaint", "service", "days", "days since last complaint", "Days from the last complaint to t; empty if none."),
        _d("satisfaction_avg_365d", "service", "0-10", "average satisfaction", "Mean survey score in the 365 days up to t."),
        _d("service_contacts_365d", "service", "count", "service contacts", "Service contacts in the 365 days up to t."),
        _d("branch_contacts_365d", "service", "count", "branch contacts", "Interactions in a branch in the 365 days up to t."),
        _d("satisfaction_last", "service", "0-10", "latest satisfaction", "Score of the latest survey up to t."),
    ]  # fmt: skip


def _corporate_docs() -> list[FeatureDoc]:
    """Family *corporate*: the latest known financial statement and credit record."""
    return [
        _d("fin_revenue", "corporate", "CNY", "revenue", "Latest statement known at t (report_date ≤ t; fiscal year end + 120 days if no report_date)."),
        _d("fin_total_assets", "corporate", "CNY", "total assets", "Latest known statement."),
        _d("fin_leverage", "corporate", "ratio", "leverage", "Total liabilities / total assets."),
        _d("fin_current_ratio", "corporate", "ratio", "current ratio", "Current assets / current liabilities."),
        _d("fin_roa", "corporate", "ratio", "return on assets", "Net income / total assets."),
        _d("fin_revenue_growth", "corporate", "ratio", "revenue growth", "Revenue / previous statement's revenue − 1."),
        _d("fin_asset_turnover", "corporate", "ratio", "asset turnover (scale)", "Revenue / total assets."),
        _d("fin_days_past_due", "corporate", "days", "days past due", "Worst days past due in the latest statement's year."),
        _d("fin_credit_events_3y", "corporate", "count", "credit events (3 years)", "Credit events in the latest three known statements."),
        _d("fin_credit_rating", "corporate", "", "credit rating", "Latest known rating."),
        _d("fin_statement_age_days", "corporate", "days", "statement age", "Days from the statement becoming known to t."),
    ]  # fmt: skip


#: Features that are facets of one thing (several windows of one balance, say): explanations
#: group their contributions under the facet's display name.
FACETS: dict[str, str] = {
    **{f"bal_{f}": f"{f} balance" for f in BALANCE_FAMILIES},
    "transactions": "transaction count",
    "amounts": "transaction amount",
    "complaints": "complaints",
    "satisfaction": "satisfaction",
}


def _facet(name: str) -> str:
    for f in BALANCE_FAMILIES:
        if name.startswith(f"bal_{f}_"):
            return f"bal_{f}"
    if name.startswith("n_tx_") or name == "tx_trend_90d":
        return "transactions"
    if name.startswith("amount_"):
        return "amounts"
    if name.startswith("complaints_") or name == "days_since_last_complaint":
        return "complaints"
    if name.startswith("satisfaction_"):
        return "satisfaction"
    return ""


#: Columns the builder gives only for some data: the margin on purchases of a purchase log.
CONDITIONAL_FEATURES: tuple[str, ...] = ("purchase_margin_12m",)

CATALOGUE: dict[str, FeatureDoc] = {
    f.name: FeatureDoc(**{**f.__dict__, "facet": _facet(f.name)}) for f in _catalogue()
}
DEMOGRAPHIC_FEATURES = tuple(n for n, f in CATALOGUE.items() if f.demographic)
