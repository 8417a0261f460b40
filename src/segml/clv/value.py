"""Customer lifetime value on explicit time units, discounted at an annual rate.

lifetimes' ``customer_lifetime_value`` steps in "months" of 30 days (4.345 weeks) and takes a
*monthly* discount rate, so a year there is 360 days and a 10 % annual rate must be converted
by hand. Here the model's time unit is explicit (:class:`TimeUnit`: ``freq`` and
``freq_multiplier`` as in :func:`segml.features.rfm.rfm_summary`), a year is 365.25 days, and
the annual rate is converted to the discounting step: ``(1 + annual) ** (step / periods per
year) - 1``. Cash flows of each step are discounted from the step's end.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from segml.clv.purchase import PurchaseModel

__all__ = ["DAYS_PER_YEAR", "TimeUnit", "discounted_clv", "period_rate"]

#: Days in a year (Julian year), the basis of every conversion.
DAYS_PER_YEAR = 365.25
_DAYS = {"D": 1.0, "W": 7.0, "h": 1 / 24, "s": 1 / 86400, "ms": 1 / 86.4e6, "us": 1 / 86.4e9}


@dataclass(frozen=True)
class TimeUnit:
    """The model's time unit: ``multiplier`` periods of ``freq`` (lifetimes' freq and multiplier).

    ``TimeUnit("D", 7)`` counts purchases per day and measures time in weeks.
    """

    freq: str = "D"
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.freq not in _DAYS:
            raise ValueError(f"freq must be one of {sorted(_DAYS)}, got {self.freq!r}")
        if not (math.isfinite(self.multiplier) and self.multiplier > 0):
            raise ValueError(f"freq_multiplier must be > 0, got {self.multiplier!r}")

    @property
    def days(self) -> float:
        """Length of one time unit in days."""
        return _DAYS[self.freq] * self.multiplier

    @property
    def periods_per_year(self) -> float:
        """Time units in a 365.25-day year."""
        return DAYS_PER_YEAR / self.days

    @property
    def name(self) -> str:
        """A readable name: ``day``, ``week``, ``7 x D`` ..."""
        named = {("D", 1.0): "day", ("D", 7.0): "week", ("W", 1.0): "week", ("h", 1.0): "hour"}
        return named.get((self.freq, float(self.multiplier)), f"{self.multiplier:g} x {self.freq}")

    def from_days(self, days: float) -> float:
        """A duration in days expressed in this unit."""
        return days / self.days

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the derived values."""
        return asdict(self) | {
            "name": self.name,
            "days": self.days,
            "periods_per_year": self.periods_per_year,
        }


def period_rate(annual_rate: float, periods_per_year: float) -> float:
    """The discount rate per period equivalent to ``annual_rate`` compounded once a year."""
    if not (math.isfinite(annual_rate) and annual_rate > -1):
        raise ValueError(f"annual discount rate must be > -1, got {annual_rate!r}")
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods per year must be > 0, got {periods_per_year!r}")
    return (1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0


def discounted_clv(
    model: PurchaseModel,
    spend_per_purchase: np.ndarray,
    frequency: Any,
    recency: Any,
    T: Any,
    horizon: float,
    annual_rate: float,
    unit: TimeUnit,
    step: float | None = None,
) -> np.ndarray:
    """Discounted expected spend over the next ``horizon`` time units.

    ``CLV = Σ_k spend × (E[N(t_k)] − E[N(t_{k−1})]) / (1 + annual_rate) ** (t_k / P)`` over
    steps ``t_k = min(k × step, horizon)``, ``P`` = ``unit.periods_per_year``: each step's
    purchases are discounted from the step's end (the last step may be shorter).

    Parameters
    ----------
    model : PurchaseModel
        A fitted purchase model in time unit ``unit``.
    spend_per_purchase : ndarray
        Expected spend per purchase of each customer (e.g. :meth:`SpendModel.expected_spend`).
    frequency, recency, T : array-like
        Each customer's history, in ``unit``.
    horizon : float
        Length of the future in ``unit`` (e.g. ``unit.from_days(365.25)`` for a year).
    annual_rate : float
        Annual discount rate (0.1 = 10 % a year); 0 gives undiscounted value.
    unit : TimeUnit
        The model's time unit.
    step : float, optional
        Discounting step in ``unit``; default about a month (``periods_per_year / 12``),
        never below one unit.

    Returns
    -------
    ndarray
        CLV per customer, in the currency of ``spend_per_purchase``.
    """
    if not (math.isfinite(horizon) and horizon >= 0):
        raise ValueError(f"horizon must be finite and >= 0, got {horizon!r}")
    step = max(unit.periods_per_year / 12.0, 1.0) if step is None else float(step)
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be > 0, got {step!r}")
    spend = np.asarray(spend_per_purchase, dtype=float)
    rate = period_rate(annual_rate, unit.periods_per_year)
    total = np.zeros(len(spend))
    done = np.zeros(len(spend))
    t_prev, k = 0.0, 0
    while t_prev < horizon:
        k += 1
        t_k = min(k * step, horizon)
        cum = model.expected_purchases(t_k, frequency, recency, T)
        total += (cum - done) / (1.0 + rate) ** t_k
        done, t_prev = cum, t_k
    return spend * total
