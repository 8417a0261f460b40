"""Month-by-month dynamics of the synthetic bank: engagement, complaints, surveys, attrition.

The known process
-----------------
* Engagement ``e`` follows an AR(1) in log space: ``e[m] = 0.9 e[m-1] + N(0, 0.15^2)``. It scales
  the customer's transaction rate (``exp(e)``) and balances (``exp(e/2)``).
* Complaints arrive as Poisson(``rate * exp(-e/2)``) a month; a fifth are never resolved.
  Satisfaction surveys (8% of customer-months) score
  ``clip(round(base + 0.8 e - complaints in the last 6 months - 1.5 unresolved + N(0,1)), 0, 10)``.
* Attrition (all accounts closed) has monthly hazard, from the state at the previous month end,
  ``h = h0 * exp(-e + 0.6 min(unresolved, 3) + 0.25 complaints_6m - 0.3 (last score - 7))``,
  capped at 0.3. In the label window after the as-of date the hazard is frozen at its as-of
  value, so the true probability of churning in the window is ``1 - exp(-12 h)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segml.synth.calendar import Calendar
from segml.synth.population import NEVER, Population

HAZARD_CAP = 0.3


def hazard(
    h0: np.ndarray,
    engagement: np.ndarray,
    unresolved: np.ndarray,
    complaints_6m: np.ndarray,
    last_score: np.ndarray,
) -> np.ndarray:
    """Monthly attrition hazard from the state at a month end (see the module docstring)."""
    h = h0 * np.exp(
        -engagement
        + 0.6 * np.minimum(unresolved, 3)
        + 0.25 * complaints_6m
        - 0.3 * (last_score - 7.0)
    )
    return np.minimum(h, HAZARD_CAP)


@dataclass
class Dynamics:
    """Monthly state of ``n`` customers over ``M`` months (arrays of shape (n, M) or (n,))."""

    engagement: np.ndarray
    t0: np.ndarray  # first active day in the month
    t1: np.ndarray  # day after the last active day (t1 <= t0: inactive)
    complaints: np.ndarray
    never_resolved: np.ndarray
    survey_score: np.ndarray  # -1 where no survey
    contacts: np.ndarray
    churn_day: np.ndarray  # NEVER if the customer did not churn within the data
    churn_month: np.ndarray  # -1 if none
    hazard_as_of: np.ndarray  # NaN for customers not active at the as-of date

    def active(self) -> np.ndarray:
        """(n, M) mask of months in which the customer is a customer for at least one day."""
        return self.t1 > self.t0


def simulate(rng: np.random.Generator, pop: Population, cal: Calendar) -> Dynamics:
    """Run the monthly process for one chunk of customers."""
    n, M = pop.n, cal.n_months
    ms = cal.month_starts
    a_m = cal.as_of_month
    e = 0.34 * rng.standard_normal(n)
    unresolved = np.zeros(n)
    c6 = np.zeros((6, n))
    last_score = pop.satisfaction.copy()
    alive = np.ones(n, dtype=bool)
    churn_day = np.full(n, NEVER, dtype=np.int64)
    churn_month = np.full(n, -1, dtype=np.int64)
    h_asof = np.full(n, np.nan)
    out = {
        k: np.zeros((n, M), dtype=t)
        for k, t in (
            ("engagement", np.float32),
            ("t0", np.int64),
            ("t1", np.int64),
            ("complaints", np.int16),
            ("never_resolved", np.int16),
            ("survey_score", np.int8),
            ("contacts", np.int16),
        )
    }
    for m in range(M):
        s0, s1 = ms[m], ms[m + 1]
        h = hazard(pop.hazard0, e, unresolved, c6.sum(axis=0), last_score)
        if m == a_m + 1:
            h_asof = np.where(alive, h, np.nan)
        if m > a_m:
            h = np.nan_to_num(h_asof)
        eligible = alive & (pop.open_day < s0)
        churn_now = eligible & (rng.random(n) < -np.expm1(-h))
        day = s0 + (rng.random(n) * (s1 - s0)).astype(np.int64)
        churn_day[churn_now] = day[churn_now]
        churn_month[churn_now] = m
        opened = pop.open_day < s1
        t0 = np.maximum(s0, pop.open_day)
        t1 = np.where(churn_now, day + 1, s1)
        live = alive & opened
        t1 = np.where(live, t1, t0)
        frac = (t1 - t0) / (s1 - s0)

        e = 0.9 * e + 0.15 * rng.standard_normal(n)
        comp = rng.poisson(pop.complaint_rate * np.exp(-0.5 * e) * frac)
        never = rng.binomial(comp, 0.2)
        unresolved += never
        c6[m % 6] = comp
        surveyed = rng.random(n) < 0.08 * frac
        score = np.clip(
            np.round(
                pop.satisfaction
                + 0.8 * e
                - c6.sum(axis=0)
                - 1.5 * np.minimum(unresolved, 3)
                + rng.standard_normal(n)
            ),
            0,
            10,
        )
        last_score = np.where(surveyed, score, last_score)
        out["engagement"][:, m] = e
        out["t0"][:, m] = t0
        out["t1"][:, m] = t1
        out["complaints"][:, m] = comp
        out["never_resolved"][:, m] = never
        out["survey_score"][:, m] = np.where(surveyed, score, -1)
        out["contacts"][:, m] = rng.poisson(0.06 * frac)
        alive &= ~churn_now
    return Dynamics(**out, churn_day=churn_day, churn_month=churn_month, hazard_as_of=h_asof)
