"""The bank's unit economics: spreads, fees, credit loss and cost to serve.

One definition of customer profit used in two places: the synthetic bank computes each
customer's true profit with it, and the profitability features estimate the same quantity from
the data. Override it in config to match a bank's funds-transfer pricing and cost model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from segml.contract import CHANNELS, PRODUCTS


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

    def __post_init__(self) -> None:
        missing = set(PRODUCTS) - set(self.spread)
        if missing:
            raise ValueError(f"economics.spread lacks products {sorted(missing)}")
        missing = set(CHANNELS) - set(self.channel_cost)
        if missing:
            raise ValueError(f"economics.channel_cost lacks channels {sorted(missing)}")


DEFAULT_ECONOMICS = BankEconomics()
