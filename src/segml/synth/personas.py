"""The synthetic bank's latent behavioural personas and their parameters.

Each persona sets the centre of a customer's draws (age, income, wealth, activity, channel mix,
product propensities, credit risk, attrition hazard, complaint propensity). Customers are drawn
around those centres with wide spreads, so personas overlap the way real customers do.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Channels a customer uses for self-initiated transactions (order of the ``channels`` weights).
TX_CHANNELS = ("branch", "atm", "mobile", "online", "pos", "phone", "rm")
#: Secondary products a persona may hold (order of the ``products`` propensities).
RETAIL_PRODUCTS = (
    "savings_deposit",
    "term_deposit",
    "wealth_fund",
    "mortgage",
    "consumer_loan",
    "credit_card",
)
CORPORATE_PRODUCTS = ("corporate_deposit", "corporate_loan", "trade_finance")
REGIONS = (
    "Beijing",
    "Shanghai",
    "Guangdong",
    "Jiangsu",
    "Zhejiang",
    "Sichuan",
    "Hubei",
    "Shandong",
)
REGION_SHARES = (0.12, 0.12, 0.18, 0.13, 0.12, 0.12, 0.10, 0.11)
REGION_WEALTH = (1.35, 1.45, 1.15, 1.05, 1.10, 0.80, 0.85, 0.85)
INDUSTRIES = (
    "manufacturing",
    "wholesale_retail",
    "construction",
    "real_estate",
    "technology",
    "logistics",
    "agriculture",
    "hospitality",
    "healthcare",
    "energy",
)
INDUSTRY_SHARES = (0.22, 0.18, 0.10, 0.07, 0.10, 0.09, 0.06, 0.07, 0.06, 0.05)
#: Multiplier on a corporate client's default probability by industry (sector risk).
INDUSTRY_RISK = (1.0, 1.1, 1.6, 1.9, 0.8, 1.0, 1.2, 1.5, 0.7, 0.9)


@dataclass(frozen=True)
class Persona:
    """Centres of the draws for one latent persona (money in CNY, rates per month)."""

    name: str
    corporate: bool
    share: float
    age: float  # mean age (retail)
    income: tuple[float, float, float, float, float]  # income band probabilities
    occupations: tuple[str, ...]
    wealth: float  # median liquid wealth (retail) or annual revenue (corporate)
    wealth_sigma: float
    activity: float  # median self-initiated transactions per month
    channels: tuple[float, ...]  # weights over TX_CHANNELS
    products: tuple[float, ...]  # propensities over RETAIL_/CORPORATE_PRODUCTS
    pd: float  # median annual probability of default
    hazard: float  # median monthly attrition hazard
    complaints: float  # complaints per month
    satisfaction: float  # baseline survey score (0-10)
    employed: float  # share with a salary (or pension) credited monthly
    monthly_fee: float  # median fees per month
    rm_cost: float  # relationship-manager cost per month


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "digital_young", False, 0.22, 28, (0.25, 0.40, 0.25, 0.08, 0.02),
        ("student", "employee", "self_employed"),
        9_000, 0.9, 2.5, (0.02, 0.08, 0.52, 0.10, 0.26, 0.02, 0.0),
        (0.30, 0.05, 0.10, 0.03, 0.30, 0.60), 0.040, 0.011, 0.020, 6.8, 0.70, 3.0, 0.0,
    ),
    Persona(
        "mass_salaried", False, 0.20, 41, (0.10, 0.30, 0.40, 0.15, 0.05),
        ("employee", "civil_servant", "manager"),
        35_000, 0.8, 1.5, (0.10, 0.20, 0.28, 0.14, 0.24, 0.04, 0.0),
        (0.60, 0.30, 0.15, 0.12, 0.15, 0.40), 0.015, 0.006, 0.015, 7.4, 0.95, 4.0, 0.0,
    ),
    Persona(
        "affluent_investor", False, 0.06, 52, (0.0, 0.02, 0.13, 0.35, 0.50),
        ("professional", "manager", "self_employed"),
        700_000, 1.1, 0.8, (0.08, 0.04, 0.30, 0.30, 0.14, 0.04, 0.10),
        (0.60, 0.70, 0.90, 0.20, 0.03, 0.55), 0.005, 0.004, 0.012, 7.9, 0.60, 1.0, 120.0,
    ),
    Persona(
        "mortgage_family", False, 0.14, 38, (0.03, 0.15, 0.40, 0.32, 0.10),
        ("employee", "professional", "civil_servant"),
        45_000, 0.8, 2, (0.05, 0.10, 0.43, 0.20, 0.20, 0.02, 0.0),
        (0.50, 0.15, 0.20, 0.95, 0.20, 0.60), 0.010, 0.003, 0.020, 7.4, 0.95, 4.0, 0.0,
    ),
    Persona(
        "senior_branch", False, 0.13, 68, (0.15, 0.35, 0.35, 0.12, 0.03),
        ("retired",),
        130_000, 0.9, 0.6, (0.55, 0.25, 0.03, 0.02, 0.08, 0.07, 0.0),
        (0.60, 0.80, 0.20, 0.02, 0.01, 0.10), 0.008, 0.004, 0.020, 7.8, 0.90, 2.0, 0.0,
    ),
    Persona(
        "dormant_low_value", False, 0.25, 36, (0.45, 0.35, 0.15, 0.04, 0.01),
        ("employee", "unemployed", "student", "self_employed"),
        700, 1.0, 0.15, (0.20, 0.40, 0.15, 0.10, 0.12, 0.03, 0.0),
        (0.10, 0.02, 0.01, 0.0, 0.05, 0.10), 0.030, 0.013, 0.005, 6.5, 0.20, 0.5, 0.0,
    ),
    Persona(
        "sme_operating", True, 0.75, 0, (0, 0, 0, 0, 0), ("",),
        5_000_000, 1.0, 6, (0.15, 0.03, 0.12, 0.62, 0.0, 0.03, 0.05),
        (0.40, 0.35, 0.10), 0.020, 0.006, 0.030, 7.2, 0.0, 60.0, 0.0,
    ),
    Persona(
        "corporate_borrower", True, 0.25, 0, (0, 0, 0, 0, 0), ("",),
        80_000_000, 1.0, 12.5, (0.06, 0.0, 0.06, 0.70, 0.0, 0.03, 0.15),
        (0.70, 0.90, 0.50), 0.012, 0.004, 0.020, 7.5, 0.0, 400.0, 900.0,
    ),
)  # fmt: skip

RETAIL_PERSONAS = tuple(i for i, p in enumerate(PERSONAS) if not p.corporate)
CORPORATE_PERSONAS = tuple(i for i, p in enumerate(PERSONAS) if p.corporate)
