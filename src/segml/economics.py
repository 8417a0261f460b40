"""The unit economics that value a customer: a bank's, or a retailer's margin on purchases.

One definition of customer profit used in two places: the synthetic bank computes each
customer's true profit with it, and the profitability features estimate the same quantity from
the data. Override it in config (``features.economics`` in a run's YAML, read by
:meth:`BankEconomics.updated`) to match a bank's funds-transfer pricing and cost model.

Which economics apply depends on what the data are (:func:`data_kind`): a **bank** earns
spreads on balances and fees and pays credit losses and the cost to serve; a **purchase log**
(a retailer's orders: CDNOW, Online Retail) holds no balances and no product income, so its
customers are valued by the margin on what they buy (``purchase_margin`` × purchases) and none
of the bank's costs apply. ``economics.kind`` forces one or the other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segml.contract import CHANNELS, PRODUCTS

if TYPE_CHECKING:
    import duckdb

#: What a folder of contract tables holds, and so which economics value its customers.
DATA_KINDS: tuple[str, ...] = ("bank", "purchase_log")
#: ``economics.kind``: ``auto`` follows the data (:func:`data_kind`).
ECONOMICS_KINDS: tuple[str, ...] = ("auto", *DATA_KINDS)
DATASET_FILE = "dataset.json"  # written by segml.loaders.dataset (the one reader: dataset_kind)


def _spreads() -> dict[str, float]:
    return {
        # deposits: margin earned on the funding they provide (fraction per year)
        "current_account": 0.020,
        "savings_deposit": 0.012,
        "term_deposit": 0.006,
        "corporate_current": 0.018,
        "corporate_deposit": 0.007,
        # investments: management/distribution fee on assets under management
        "wealth_fund": 0.008,
        # lending: net interest margin over funding cost
        "mortgage": 0.010,
        "consumer_loan": 0.045,
        "credit_card": 0.090,
        "corporate_loan": 0.018,
        "trade_finance": 0.015,
        "other": 0.0,
    }


def _lgd() -> dict[str, float]:
    return {
        "mortgage": 0.15,
        "consumer_loan": 0.60,
        "credit_card": 0.75,
        "corporate_loan": 0.45,
        "trade_finance": 0.35,
    }


def _pd_by_product() -> dict[str, float]:
    # portfolio-average annual default probabilities, used where a customer has no rating
    return {
        "mortgage": 0.010,
        "consumer_loan": 0.030,
        "credit_card": 0.035,
        "corporate_loan": 0.020,
        "trade_finance": 0.015,
    }


def _pd_by_rating() -> dict[str, float]:
    # a typical master scale: the geometric middle of each grade's PD band
    return {
        "AAA": 0.0003,
        "AA": 0.0007,
        "A": 0.002,
        "BBB": 0.005,
        "BB": 0.012,
        "B": 0.03,
        "CCC": 0.08,
        "CC": 0.17,
        "C": 0.30,
        "D": 1.0,
    }


def _channel_cost() -> dict[str, float]:
    return {
        "branch": 8.0,
        "atm": 1.5,
        "mobile": 0.10,
        "online": 0.20,
        "pos": 0.30,
        "phone": 4.0,
        "rm": 20.0,
        "system": 0.0,
        "other": 0.5,
    }


@dataclass(frozen=True)
class BankEconomics:
    """Unit economics, all money in the reporting currency.

    Parameters
    ----------
    spread : dict
        Product -> annual margin on the average balance (deposits: funding value; lending:
        net interest margin; wealth: fee on assets).
    lgd : dict
        Lending product -> loss given default, for expected credit loss = PD x LGD x balance.
    channel_cost : dict
        Channel -> cost per transaction.
    account_cost_retail, account_cost_corporate : float
        Cost per open account per month.
    interaction_cost : dict
        Interaction kind -> cost per contact.
    pd_by_product : dict
        Lending product -> portfolio-average annual PD, for customers without a rating.
    pd_by_rating : dict
        Credit rating -> annual PD, for corporate clients with a rating.
    purchase_margin : float
        Purchase logs only: the retailer's gross margin on what customers buy, in [0, 1]
        (profit = margin × purchases). The default 0.3 is a typical gross margin of a
        non-food retailer (gift and music retail: 25-50%); only the ranking of customers
        matters for the tiers, and it does not depend on the margin.
    kind : {"auto", "bank", "purchase_log"}
        Which economics apply: ``auto`` follows the data (:func:`data_kind`), ``bank`` always
        values balances, fees, credit loss and costs, ``purchase_log`` always values the
        margin on purchases (and no bank costs).
    """

    spread: dict[str, float] = field(default_factory=_spreads)
    lgd: dict[str, float] = field(default_factory=_lgd)
    channel_cost: dict[str, float] = field(default_factory=_channel_cost)
    account_cost_retail: float = 4.0
    account_cost_corporate: float = 15.0
    interaction_cost: dict[str, float] = field(
        default_factory=lambda: {"complaint": 60.0, "survey": 2.0, "service_contact": 12.0}
    )
    pd_by_product: dict[str, float] = field(default_factory=_pd_by_product)
    pd_by_rating: dict[str, float] = field(default_factory=_pd_by_rating)
    purchase_margin: float = 0.3
    kind: str = "auto"

    def __post_init__(self) -> None:
        missing = set(PRODUCTS) - set(self.spread)
        if missing:
            raise ValueError(f"economics.spread lacks products {sorted(missing)}")
        missing = set(CHANNELS) - set(self.channel_cost)
        if missing:
            raise ValueError(f"economics.channel_cost lacks channels {sorted(missing)}")
        if self.kind not in ECONOMICS_KINDS:
            raise ValueError(f"economics.kind must be one of {ECONOMICS_KINDS}, got {self.kind!r}")

    @property
    def values_purchases(self) -> bool:
        """True when customers are valued by the margin on their purchases (a purchase log)."""
        return self.kind == "purchase_log"

    def for_data(self, kind: str) -> BankEconomics:
        """These economics for data of ``kind`` (``bank`` or ``purchase_log``): ``auto``
        becomes ``kind``; a forced kind stays as it is."""
        if kind not in DATA_KINDS:
            raise ValueError(f"data kind must be one of {DATA_KINDS}, got {kind!r}")
        return replace(self, kind=kind) if self.kind == "auto" else self

    def bank_lines(self) -> BankEconomics:
        """The economics of the bank's lines: as they are for a bank; all zero (no spread,
        credit loss or cost) when customers are valued by their purchases."""
        if not self.values_purchases:
            return self
        return replace(
            self,
            spread=dict.fromkeys(self.spread, 0.0),
            lgd=dict.fromkeys(self.lgd, 0.0),
            channel_cost=dict.fromkeys(self.channel_cost, 0.0),
            account_cost_retail=0.0,
            account_cost_corporate=0.0,
            interaction_cost=dict.fromkeys(self.interaction_cost, 0.0),
        )

    def updated(self, changes: Mapping[str, Any], where: str = "economics") -> BankEconomics:
        """A copy with ``changes`` applied: a map updates the entries it names, a number
        replaces the number (``{"spread": {"mortgage": 0.012}, "account_cost_retail": 3}``).

        Raises
        ------
        ValueError
            Naming the key (prefixed with ``where``): an unknown field, product, channel or
            kind; a value that is not a number or out of its range (LGD and PD in [0, 1],
            costs >= 0, spreads in (-1, 1)).
        """
        out: dict[str, Any] = {}
        for name, value in dict(changes).items():
            key = f"{where}.{name}"
            if name == "kind":
                if value not in ECONOMICS_KINDS:
                    raise ValueError(f"{key} must be one of {', '.join(ECONOMICS_KINDS)}, got {value!r}")  # fmt: skip
                out[name] = value
                continue
            if name not in _RANGES:
                raise ValueError(
                    f"{key} is not an economics field ({', '.join([*_RANGES, 'kind'])})"
                )
            low, high, what = _RANGES[name]
            current = getattr(self, name)
            if isinstance(current, dict):
                if not isinstance(value, Mapping):
                    raise ValueError(f"{key} must be a map of {what}, got {value!r}")
                allowed = _KEYS.get(name, set(current))
                merged = dict(current)
                for k, v in value.items():
                    if allowed is not None and k not in allowed:
                        raise ValueError(f"{key}.{k}: unknown {what} (known: {sorted(allowed)})")
                    merged[k] = _number(v, low, high, f"{key}.{k}")
                out[name] = merged
            else:
                out[name] = _number(value, low, high, key)
        return replace(self, **out)


def _number(value: Any, low: float, high: float, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{key} must be in [{low:g}, {high:g}], got {value!r}")
    return float(value)


#: field -> (lowest, highest, what its keys are)
_RANGES: dict[str, tuple[float, float, str]] = {
    "spread": (-1.0, 1.0, "product"),
    "lgd": (0.0, 1.0, "lending product"),
    "channel_cost": (0.0, math.inf, "channel"),
    "account_cost_retail": (0.0, math.inf, "cost"),
    "account_cost_corporate": (0.0, math.inf, "cost"),
    "interaction_cost": (0.0, math.inf, "interaction kind"),
    "pd_by_product": (0.0, 1.0, "lending product"),
    "pd_by_rating": (0.0, 1.0, "rating"),
    "purchase_margin": (0.0, 1.0, "share"),
}
#: the keys a map may name (None: any, e.g. a bank's own rating scale)
_KEYS: dict[str, set[str] | None] = {
    "spread": set(PRODUCTS),
    "channel_cost": set(CHANNELS),
    "pd_by_rating": None,
}


DEFAULT_ECONOMICS = BankEconomics()


def dataset_kind(folder: str | Path) -> str | None:
    """The kind ``segml convert`` recorded in ``<folder>/dataset.json``, or None without one.

    Raises
    ------
    ValueError
        Naming the file, when it is not JSON or its ``kind`` is not one of :data:`DATA_KINDS`.
    """
    from segml.loaders.dataset import read_dataset_record  # the one reader of the record

    record = read_dataset_record(folder)
    return None if record is None else str(record["kind"])


def infer_data_kind(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """``(kind, why)`` from the data: a purchase log has no positive balance and no fee or
    interest transaction (no interest-earning balances, no product income); anything else is
    a bank. ``con`` holds the contract's views (empty views for absent optional tables)."""
    balance = con.execute("SELECT 1 FROM balances WHERE avg_balance > 0 LIMIT 1").fetchall()
    income = con.execute(
        "SELECT 1 FROM transactions WHERE kind IN ('fee', 'interest') LIMIT 1"
    ).fetchall()
    if balance or income:
        held = " and ".join(w for w, x in (("balances", balance), ("fee or interest income", income)) if x)  # fmt: skip
        return "bank", f"inferred from the data: they hold {held}"
    return "purchase_log", "inferred from the data: no balances and no fee or interest income"


def data_kind(folder: str | Path, con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """``(kind, why)`` of a bank's folder: ``dataset.json`` when present, else inferred."""
    kind = dataset_kind(folder)
    if kind is not None:
        return kind, f"{DATASET_FILE} says {kind}"
    return infer_data_kind(con)
