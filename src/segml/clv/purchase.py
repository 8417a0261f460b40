"""Purchase models: BG/NBD, Pareto/NBD and MBG/NBD behind one scikit-learn-style estimator.

:class:`PurchaseModel` fits with lifetimes (:mod:`segml.clv.adapter`), retries with a growing
penalizer when the optimiser fails and records every attempt, and predicts with segml's
log-space formulas (:mod:`segml.clv.formulas`), finite for any frequency. Inputs are lifetimes'
``frequency, recency, T`` in one time unit of the caller's choice; ``time_unit`` records it.

An optimiser stop without success is a failure only when it is not an optimum: the adapter
verifies such a stop with segml's log-likelihood (a BLAS-free Nelder-Mead polish) and keeps it
when the penalized log-likelihood cannot be raised by more than ``adapter.VERIFY_TOL``. BFGS
stops that way on flat optima and at the no-drop-out boundary depending on the CPU's BLAS
kernel; verified, whether a fit succeeds, and with which penalizer, no longer hinges on it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator

from segml.clv import formulas
from segml.clv.adapter import PURCHASE_PARAMS, EstimateAttempt, fit_purchase
from segml.clv.data import as_rfm_arrays
from segml.jsonio import JsonModel
from segml.tableinput import check_fitted

__all__ = [
    "ClvConvergenceWarning",
    "FitReport",
    "PurchaseKind",
    "PurchaseModel",
    "retry_penalizers",
]

PurchaseKind = Literal["bgnbd", "pareto", "mbgnbd"]
MODEL_FORMAT = "segml.clv.PurchaseModel/1"


class ClvConvergenceWarning(UserWarning):
    """A CLV model converged only after a retry with a larger penalizer."""


def retry_penalizers(penalizer: float, max_retries: int) -> list[float]:
    """Penalizers to try: ``penalizer``, then ``max(penalizer, 1e-3)`` × 1, 10, 100 … per retry."""
    base = max(float(penalizer), 1e-3)
    return [float(penalizer)] + [base * 10.0**i for i in range(max_retries)]


@dataclass(frozen=True)
class FitReport:
    """How a fit went: every optimiser attempt, and which one was kept."""

    attempts: tuple[EstimateAttempt, ...]

    @property
    def converged(self) -> bool:
        """True when an attempt succeeded."""
        return any(a.success for a in self.attempts)

    @property
    def retries(self) -> int:
        """Attempts after the first."""
        return len(self.attempts) - 1

    @property
    def penalizer(self) -> float:
        """Penalizer of the kept (last) attempt."""
        return self.attempts[-1].penalizer

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "converged": self.converged,
            "retries": self.retries,
            "penalizer": self.penalizer,
            "attempts": [a.to_dict() for a in self.attempts],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FitReport:
        """Rebuild a report written by :meth:`to_dict`."""
        return cls(
            tuple(
                EstimateAttempt(a["params"], a["success"], a["message"], a["penalizer"])
                for a in doc["attempts"]
            )
        )


def run_with_retries(
    fit: Any, penalizer: float, max_retries: int, what: str
) -> tuple[EstimateAttempt, FitReport]:
    """Call ``fit(penalizer)`` until it succeeds, raising the penalizer each time.

    Raises
    ------
    RuntimeError
        When every attempt fails; the message lists them.
    """
    attempts: list[EstimateAttempt] = []
    for pen in retry_penalizers(penalizer, max_retries):
        attempt = fit(pen)
        attempts.append(attempt)
        if attempt.success:
            break
    report = FitReport(tuple(attempts))
    if not report.converged:
        tried = "; ".join(f"penalizer {a.penalizer:g}: {a.message}" for a in attempts)
        raise RuntimeError(f"{what} did not converge after {len(attempts)} attempts ({tried})")
    if report.retries:
        warnings.warn(
            f"{what} converged only with penalizer {report.penalizer:g} after "
            f"{report.retries} retr{'y' if report.retries == 1 else 'ies'} "
            f"({attempts[0].message}); parameters are shrunk towards 0",
            ClvConvergenceWarning,
            stacklevel=3,
        )
    return attempts[-1], report


class PurchaseModel(JsonModel, BaseEstimator):
    """BG/NBD, Pareto/NBD or MBG/NBD model of repeat purchases and drop-out.

    Parameters
    ----------
    kind : {"bgnbd", "pareto", "mbgnbd"}
        BG/NBD (Fader, Hardie & Lee 2005), Pareto/NBD (Schmittlein, Morrison & Colombo 1987)
        or MBG/NBD (Batislam, Denizel & Filiztekin 2007).
    penalizer : float
        L2 penalizer of the first attempt (lifetimes' ``penalizer_coef``); 0 is plain maximum
        likelihood.
    max_retries : int
        Further attempts after a failure, with penalizers ``max(penalizer, 1e-3) × 10^i``.
    time_unit : str
        Name of the inputs' time unit (e.g. ``"week"``), recorded with the model.

    Attributes
    ----------
    params_ : dict of str to float
        ``r, alpha, a, b`` (Pareto/NBD: ``r, alpha, s, beta``); ``alpha``/``beta`` in
        ``time_unit``.
    log_likelihood_ : float
        Unpenalized log-likelihood of the training data at ``params_``.
    n_customers_ : int
        Customers fitted.
    fit_report_ : FitReport
        Every attempt; ``fit_report_.retries`` > 0 means a penalizer was needed. An attempt
        whose optimiser stopped early but was verified says so in its ``message``.

    Examples
    --------
    >>> m = PurchaseModel("bgnbd").fit(frequency, recency, T)  # doctest: +SKIP
    >>> m.p_alive(frequency, recency, T)  # doctest: +SKIP
    """

    def __init__(
        self,
        kind: PurchaseKind = "bgnbd",
        penalizer: float = 0.0,
        max_retries: int = 3,
        time_unit: str = "period",
    ) -> None:
        self.kind = kind
        self.penalizer = penalizer
        self.max_retries = max_retries
        self.time_unit = time_unit

    def _check_config(self) -> None:
        if self.kind not in PURCHASE_PARAMS:
            raise ValueError(f"kind must be one of {sorted(PURCHASE_PARAMS)}, got {self.kind!r}")
        if not (np.isfinite(self.penalizer) and self.penalizer >= 0):
            raise ValueError(f"penalizer must be a finite number >= 0, got {self.penalizer!r}")
        if int(self.max_retries) != self.max_retries or self.max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")

    def fit(self, frequency: Any, recency: Any, T: Any) -> PurchaseModel:
        """Fit by maximum likelihood, retrying with a penalizer when an attempt fails.

        An attempt fails when lifetimes raises, or when its optimiser stops without success at a
        point that is not verified as an optimum (:mod:`segml.clv.adapter`).

        Parameters
        ----------
        frequency, recency, T : array-like
            lifetimes' RFM summary in one time unit (see :func:`segml.clv.data.as_rfm_arrays`).

        Returns
        -------
        PurchaseModel
            ``self``, fitted.

        Raises
        ------
        ValueError
            Bad configuration or inputs (the message names the column and customers).
        RuntimeError
            No attempt converged.
        """
        self._check_config()
        x, tx, t = as_rfm_arrays(frequency, recency, T, "purchase model input")
        if not (x > 0).any():
            raise ValueError("purchase model input: no customer has a repeat purchase")

        def attempt(pen: float) -> EstimateAttempt:
            return fit_purchase(self.kind, x, tx, t, pen, None)

        name = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD", "mbgnbd": "MBG/NBD"}[self.kind]
        best, self.fit_report_ = run_with_retries(attempt, self.penalizer, self.max_retries, name)
        self.params_ = dict(best.params)
        self.n_customers_ = len(x)
        self.log_likelihood_ = float(
            formulas.log_likelihood(self.kind, self.params_, x, tx, t).sum()
        )
        return self

    def _fitted(self) -> dict[str, float]:
        check_fitted(self, "params_", "this PurchaseModel is not fitted yet: call fit() or load()")
        return self.params_

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Probability each customer is still active at ``T`` (same inputs as :meth:`fit`)."""
        p = self._fitted()
        x, tx, t = as_rfm_arrays(frequency, recency, T, "p_alive input", allow_empty=True)
        return formulas.p_alive(self.kind, p, x, tx, t)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Expected repeat purchases in the next ``t`` time units, given each history.

        Parameters
        ----------
        t : float or array-like
            Horizon in the model's time unit (scalar, or one per customer).
        frequency, recency, T : array-like
            As in :meth:`fit`.
        """
        p = self._fitted()
        x, tx, tt = as_rfm_arrays(frequency, recency, T, "prediction input", allow_empty=True)
        horizon = np.asarray(t, dtype=float)
        if not np.all(np.isfinite(horizon)) or np.any(horizon < 0):
            raise ValueError(f"horizon t must be finite and >= 0, got {t!r}")
        return formulas.expected_purchases(self.kind, p, horizon, x, tx, tt)

    def predict(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Alias of :meth:`expected_purchases` (lifetimes' ``predict``)."""
        return self.expected_purchases(t, frequency, recency, T)

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> float:
        """Total log-likelihood of an RFM summary under the fitted parameters."""
        p = self._fitted()
        x, tx, t = as_rfm_arrays(frequency, recency, T, "log-likelihood input")
        return float(formulas.log_likelihood(self.kind, p, x, tx, t).sum())

    def to_dict(self) -> dict[str, Any]:
        """Configuration and (when fitted) parameters and fit report, JSON-ready."""
        out: dict[str, Any] = {"format": MODEL_FORMAT, "config": self.get_params()}
        if hasattr(self, "params_"):
            out |= {
                "params": dict(self.params_),
                "log_likelihood": self.log_likelihood_,
                "n_customers": self.n_customers_,
                "fit": self.fit_report_.to_dict(),
            }
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PurchaseModel:
        """Rebuild a model written by :meth:`to_dict` (fitted if it was)."""
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a saved PurchaseModel (format {doc.get('format')!r})")
        model = cls(**doc["config"])
        model._check_config()
        if "params" in doc:
            names = PURCHASE_PARAMS[model.kind]
            if set(doc["params"]) != set(names):
                raise ValueError(f"saved {model.kind} parameters must be {names}")
            model.params_ = {k: float(doc["params"][k]) for k in names}
            model.log_likelihood_ = float(doc["log_likelihood"])
            model.n_customers_ = int(doc["n_customers"])
            model.fit_report_ = FitReport.from_dict(doc["fit"])
        return model
