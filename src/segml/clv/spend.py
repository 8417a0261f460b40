"""Gamma-Gamma spend model with its exclusions and its independence assumption checked.

The model (Fader, Hardie & Lee 2005, "RFM and CLV") describes the mean spend of repeat buyers
and needs strictly positive spend; it assumes spend per purchase is independent of purchase
frequency. :class:`SpendModel` fits only repeat buyers with positive mean spend and records
how many customers it left out and why, and measures the Pearson and Spearman correlation of
frequency and mean spend among the fitted buyers, warning when either is material.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr
from sklearn.base import BaseEstimator

from segml.clv import formulas
from segml.clv.adapter import SPEND_PARAMS, EstimateAttempt, fit_gamma_gamma
from segml.clv.purchase import FitReport, run_with_retries
from segml.jsonio import JsonModel
from segml.tableinput import check_fitted
from segml.tables import offending_rows

__all__ = [
    "HeavyTailedSpendWarning",
    "IndependenceCheck",
    "SpendExclusions",
    "SpendIndependenceWarning",
    "SpendModel",
]

MODEL_FORMAT = "segml.clv.SpendModel/1"


class SpendIndependenceWarning(UserWarning):
    """Frequency and spend are correlated among repeat buyers (Gamma-Gamma assumes not)."""


class HeavyTailedSpendWarning(UserWarning):
    """Gamma-Gamma's ``q <= 1``: no finite mean spend; some expected spends do not exist."""


@dataclass(frozen=True)
class SpendExclusions:
    """Customers the Gamma-Gamma fit left out, by reason."""

    customers: int
    fitted: int
    no_repeat_purchase: int
    non_positive_spend: int

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class IndependenceCheck:
    """Correlation of frequency and mean spend among the fitted repeat buyers.

    ``material`` is True when ``|pearson|`` or ``|spearman|`` reaches ``threshold``.
    """

    pearson: float
    pearson_p: float
    spearman: float
    spearman_p: float
    n: int
    threshold: float

    @property
    def material(self) -> bool:
        """Whether the correlation is large enough to question the model."""
        return bool(max(abs(self.pearson), abs(self.spearman)) >= self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``material`` included)."""
        return asdict(self) | {"material": self.material}


def independence_check(
    frequency: np.ndarray, monetary_value: np.ndarray, threshold: float
) -> IndependenceCheck:
    """Pearson and Spearman correlation of ``frequency`` and ``monetary_value`` (NaN if < 3)."""
    n = len(frequency)
    if n < 3 or np.ptp(frequency) == 0 or np.ptp(monetary_value) == 0:
        nan = float("nan")
        return IndependenceCheck(nan, nan, nan, nan, n, threshold)
    pr, sr = pearsonr(frequency, monetary_value), spearmanr(frequency, monetary_value)
    return IndependenceCheck(
        float(pr.statistic), float(pr.pvalue), float(sr.statistic), float(sr.pvalue), n, threshold
    )


class SpendModel(JsonModel, BaseEstimator):
    """Gamma-Gamma model of spend per purchase.

    Parameters
    ----------
    penalizer : float
        L2 penalizer of the first attempt (lifetimes' ``penalizer_coef``).
    max_retries : int
        Further attempts after a failure, with growing penalizers (as :class:`PurchaseModel`).
    independence_threshold : float
        ``|correlation|`` of frequency and spend from which the independence assumption is
        reported as violated (and a :class:`SpendIndependenceWarning` is issued).

    Attributes
    ----------
    params_ : dict of str to float
        ``p``, ``q``, ``gamma`` (lifetimes' ``v``).
    exclusions_ : SpendExclusions
        Customers without a repeat purchase or with non-positive mean spend (not fitted).
    independence_ : IndependenceCheck
        Frequency-spend correlation among the fitted buyers.
    population_mean_ : float
        Expected spend per purchase of a new customer, ``γ p / (q - 1)``; when ``q <= 1`` the
        model has no finite mean and this is the fitted buyers' mean spend instead (an
        empirical stand-in, announced by a :class:`HeavyTailedSpendWarning`).
    log_likelihood_ : float
        Log-likelihood of the fitted buyers.
    fit_report_ : FitReport
        Every optimiser attempt.
    """

    def __init__(
        self, penalizer: float = 0.0, max_retries: int = 3, independence_threshold: float = 0.3
    ) -> None:
        self.penalizer = penalizer
        self.max_retries = max_retries
        self.independence_threshold = independence_threshold

    def fit(self, frequency: Any, monetary_value: Any) -> SpendModel:
        """Fit on the repeat buyers with positive mean spend.

        Parameters
        ----------
        frequency : array-like
            Repeat purchases per customer.
        monetary_value : array-like
            Mean spend per repeat purchase (lifetimes' ``monetary_value``).

        Raises
        ------
        ValueError
            Missing, infinite or negative frequencies, missing spend, different lengths, or
            fewer than 2 customers left to fit.
        RuntimeError
            No attempt converged.
        """
        x, m = self._arrays(frequency, monetary_value, "spend model input")
        keep = (x > 0) & (m > 0)
        self.exclusions_ = SpendExclusions(
            customers=len(x),
            fitted=int(keep.sum()),
            no_repeat_purchase=int((x == 0).sum()),
            non_positive_spend=int(((x > 0) & (m <= 0)).sum()),
        )
        if keep.sum() < 2:
            raise ValueError(
                f"spend model input: {int(keep.sum())} repeat buyer(s) with positive spend; "
                "the Gamma-Gamma model needs at least 2"
            )
        xf, mf = x[keep], m[keep]
        self.independence_ = independence_check(xf, mf, self.independence_threshold)
        if self.independence_.material:
            warnings.warn(
                "Gamma-Gamma assumes spend per purchase is independent of frequency, but among "
                f"{self.independence_.n:,} repeat buyers Pearson r = "
                f"{self.independence_.pearson:.2f}, Spearman rho = {self.independence_.spearman:.2f}"
                f" (threshold {self.independence_threshold})",
                SpendIndependenceWarning,
                stacklevel=2,
            )

        def attempt(pen: float) -> EstimateAttempt:
            return fit_gamma_gamma(xf, mf, pen, None)

        best, self.fit_report_ = run_with_retries(
            attempt, self.penalizer, self.max_retries, "Gamma-Gamma"
        )
        self.params_ = dict(best.params)
        p, q, g = self.params_["p"], self.params_["q"], self.params_["gamma"]
        self.population_mean_ = float(g * p / (q - 1)) if q > 1 else float(mf.mean())
        self.log_likelihood_ = float(
            formulas.gamma_gamma_log_likelihood(self.params_, xf, mf).sum()
        )
        if q <= 1:
            warnings.warn(self.heavy_tail_message(xf), HeavyTailedSpendWarning, stacklevel=2)
        return self

    @property
    def max_undefined_frequency(self) -> int:
        """Largest repeat-purchase count whose expected spend does not exist (``p x + q <= 1``).

        0 when every repeat buyer has one (in particular when ``q > 1``).
        """
        p, q = self.params_["p"], self.params_["q"]
        return int(np.floor((1 - q) / p)) if q <= 1 else 0

    def heavy_tail_message(self, frequency: np.ndarray) -> str:
        """Why the model has no mean when ``q <= 1``, how many of ``frequency`` it affects, and
        what to do instead."""
        p, q = self.params_["p"], self.params_["q"]
        k = self.max_undefined_frequency
        n_undef = int(((frequency > 0) & (frequency <= k)).sum())
        affected = (
            f"repeat buyers with p·x + q <= 1 (x <= {k} repeat purchases: {n_undef:,} of "
            f"{len(frequency):,}) have no expected spend (NaN, and so are their value and CLV; "
            "they are left out of the value metrics and counted)"
            if k >= 1
            else "every repeat buyer still has a finite expected spend"
        )
        return (
            f"Gamma-Gamma fitted q = {q:.3g} <= 1 (p = {p:.3g}): spend per purchase is too "
            "heavy-tailed for the model, whose mean spend is infinite, so the model does not "
            f"fit these data; {affected}; customers without repeat purchases get the fitted "
            f"buyers' mean spend {self.population_mean_:,.4g} instead of the model's population "
            "mean, and expected spends of buyers with few repeat purchases are inflated. "
            "Prefer the supervised model (xgboost) for value, or cap extreme amounts"
        )

    @staticmethod
    def _arrays(frequency: Any, monetary_value: Any, source: str) -> tuple[np.ndarray, np.ndarray]:
        x = np.atleast_1d(np.asarray(frequency, dtype=float))
        m = np.atleast_1d(np.asarray(monetary_value, dtype=float))
        if x.shape != m.shape or x.ndim != 1:
            raise ValueError(f"{source}: frequency and monetary_value differ in shape")
        labels = list(frequency.index if isinstance(frequency, pd.Series) else range(len(x)))
        if (bad := ~np.isfinite(x) | (x < 0)).any():
            raise ValueError(
                f"{source}: column 'frequency' must be finite and >= 0; not in "
                f"{offending_rows(labels, x, bad)}"
            )
        if (bad := ~np.isfinite(m)).any():
            raise ValueError(
                f"{source}: column 'monetary_value' has missing or infinite values in "
                f"{offending_rows(labels, m, bad)}"
            )
        return x, m

    def expected_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """Expected spend per future purchase of each customer.

        Repeat buyers with positive spend get the Gamma-Gamma posterior mean — NaN where it
        does not exist (``p x + q <= 1``, only when ``q <= 1``); the others (no repeat
        purchase, or non-positive mean spend) get :attr:`population_mean_`. Never negative.
        """
        check_fitted(self, "params_", "this SpendModel is not fitted yet: call fit() or load()")
        x, m = self._arrays(frequency, monetary_value, "spend prediction input")
        keep = (x > 0) & (m > 0)
        out = np.full(len(x), self.population_mean_)
        if keep.any():
            out[keep] = formulas.expected_spend(self.params_, x[keep], m[keep])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Configuration and (when fitted) parameters, exclusions and checks, JSON-ready."""
        out: dict[str, Any] = {"format": MODEL_FORMAT, "config": self.get_params()}
        if hasattr(self, "params_"):
            out |= {
                "params": dict(self.params_),
                "population_mean": self.population_mean_,
                "log_likelihood": self.log_likelihood_,
                "exclusions": self.exclusions_.to_dict(),
                "independence": self.independence_.to_dict(),
                "fit": self.fit_report_.to_dict(),
            }
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SpendModel:
        """Rebuild a model written by :meth:`to_dict`."""
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a saved SpendModel (format {doc.get('format')!r})")
        model = cls(**doc["config"])
        if "params" in doc:
            model.params_ = {k: float(doc["params"][k]) for k in SPEND_PARAMS}
            model.population_mean_ = float(doc["population_mean"])
            model.log_likelihood_ = float(doc["log_likelihood"])
            model.exclusions_ = SpendExclusions(**doc["exclusions"])
            ind = {k: v for k, v in doc["independence"].items() if k != "material"}
            model.independence_ = IndependenceCheck(**ind)
            model.fit_report_ = FitReport.from_dict(doc["fit"])
        return model
