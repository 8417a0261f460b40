"""The one place segml calls ``lifetimes``: maximum-likelihood fits of the CLV models.

Every function takes plain float arrays and returns an :class:`EstimateAttempt`: the fitted
parameters under their usual names, the optimiser's verdict and message. Nothing else in
:mod:`segml.clv` imports ``lifetimes``; predictions and log-likelihoods are computed by segml
itself (:mod:`segml.clv.formulas`) from the parameters, so another estimator (``pymc-marketing``,
a hand-written optimiser) can replace this module by returning the same attempts.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from segml.clv.formulas import log_likelihood

#: Parameter names of each purchase model, in lifetimes' order.
PURCHASE_PARAMS: dict[str, tuple[str, ...]] = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "pareto": ("r", "alpha", "s", "beta"),
}
#: Gamma-Gamma parameter names (lifetimes calls ``gamma`` ``v``).
SPEND_PARAMS: tuple[str, ...] = ("p", "q", "gamma")


@dataclass(frozen=True)
class EstimateAttempt:
    """One optimiser run: parameters (NaN if none), success flag and message."""

    params: dict[str, float]
    success: bool
    message: str
    penalizer: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "params": {k: float(v) for k, v in self.params.items()},
            "success": self.success,
            "message": self.message,
            "penalizer": self.penalizer,
        }


def _lifetimes() -> Any:
    """The lifetimes package, imported quietly (under pandas 3 it warns at import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes
    return lifetimes


def _pareto_nll(
    params: Any, freq: Any, rec: Any, T: Any, weights: Any, penalizer_coef: float
) -> float:
    """lifetimes' Pareto/NBD objective with segml's overflow-free log-likelihood."""
    params = np.asarray(params, dtype=float)
    if np.any(params <= 0.0):
        return np.inf
    p = dict(zip(PURCHASE_PARAMS["pareto"], map(float, params), strict=True))
    ll = log_likelihood("pareto", p, freq, rec, T)
    value = -(weights * ll).sum() / weights.mean() + penalizer_coef * (params**2).sum()
    return float(value) if np.isfinite(value) else np.inf


def _fitter(kind: str, penalizer: float) -> Any:
    lt = _lifetimes()
    if kind == "pareto":
        # lifetimes' own likelihood overflows (inf/nan) once r + s + x reaches a few hundred:
        # keep its optimiser and time scaling, evaluate the likelihood stably.
        stable = type(
            "StableParetoNBDFitter",
            (lt.ParetoNBDFitter,),
            {"_negative_log_likelihood": staticmethod(_pareto_nll)},
        )
        return stable(penalizer_coef=penalizer)
    cls = {"bgnbd": lt.BetaGeoFitter, "mbgnbd": lt.ModifiedBetaGeoFitter}
    return cls[kind](penalizer_coef=penalizer)


def _quietly(fit: Any) -> tuple[Exception | None, str]:
    """Run ``fit()`` without warnings or prints (lifetimes prints the optimiser's result on
    failure); return the exception it raised (or None) and the optimiser's message if printed.
    """
    out = io.StringIO()
    error = None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(out):
            warnings.simplefilter("ignore")
            fit()
    except Exception as exc:  # lifetimes raises ConvergenceError, LinAlgError, ValueError ...
        error = exc
    printed = [ln.split(":", 1)[1].strip() for ln in out.getvalue().splitlines()
               if ln.strip().startswith("message:")]  # fmt: skip
    return error, printed[0] if printed else ""


def _describe(error: Exception, printed: str) -> str:
    first = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {first[0] if first else ''}"
    return f"{text} ({printed})" if printed else text


def _failed(names: tuple[str, ...], message: str, penalizer: float) -> EstimateAttempt:
    return EstimateAttempt(dict.fromkeys(names, float("nan")), False, message, penalizer)


def fit_purchase(
    kind: str,
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    penalizer: float,
    initial: np.ndarray | None,
) -> EstimateAttempt:
    """Fit a BG/NBD, MBG/NBD or Pareto/NBD model with lifetimes.

    Parameters
    ----------
    kind : {"bgnbd", "mbgnbd", "pareto"}
        The model.
    frequency, recency, T : ndarray
        Validated lifetimes inputs, one unit of time.
    penalizer : float
        lifetimes' L2 penalizer on the (internally time-scaled) parameters.
    initial : ndarray or None
        Starting point in lifetimes' internal parametrisation (log parameters for the BG
        models, parameters for Pareto/NBD); None: lifetimes' default for the BG models and
        ones for Pareto/NBD (lifetimes would draw it at random).

    Returns
    -------
    EstimateAttempt
        ``success`` is False when lifetimes raises (its ``ConvergenceError`` included), when the
        optimiser reports failure, or when a parameter is not finite and positive.
    """
    names = PURCHASE_PARAMS[kind]
    model = _fitter(kind, penalizer)
    kwargs: dict[str, Any] = {}
    if kind == "pareto":
        kwargs["initial_params"] = np.ones(4) if initial is None else initial
    elif initial is not None:
        kwargs["initial_params"] = initial
    error, printed = _quietly(lambda: model.fit(frequency, recency, T, **kwargs))
    if error is not None:
        return _failed(names, _describe(error, printed), penalizer)
    params = {n: float(model.params_[n]) for n in names}
    ok = all(np.isfinite(v) and v > 0 for v in params.values())
    if kind == "pareto":  # lifetimes' Nelder-Mead returns without a verdict: check the optimum
        ok = ok and bool(np.isfinite(model._negative_log_likelihood_))
    return EstimateAttempt(params, ok, "ok" if ok else "non-finite or non-positive", penalizer)


def fit_gamma_gamma(
    frequency: np.ndarray, monetary_value: np.ndarray, penalizer: float, initial: np.ndarray | None
) -> EstimateAttempt:
    """Fit the Gamma-Gamma spend model with lifetimes on repeat buyers with positive spend.

    Parameters
    ----------
    frequency, monetary_value : ndarray
        Repeat purchases (> 0) and mean spend per repeat purchase (> 0).
    penalizer : float
        lifetimes' L2 penalizer.
    initial : ndarray or None
        Log-parameters to start from.

    Returns
    -------
    EstimateAttempt
        Parameters ``p``, ``q``, ``gamma``.
    """
    model = _lifetimes().GammaGammaFitter(penalizer_coef=penalizer)
    error, printed = _quietly(lambda: model.fit(frequency, monetary_value, initial_params=initial))
    if error is not None:
        return _failed(SPEND_PARAMS, _describe(error, printed), penalizer)
    params = {"p": float(model.params_["p"]), "q": float(model.params_["q"])}
    params["gamma"] = float(model.params_["v"])
    ok = all(np.isfinite(v) and v > 0 for v in params.values())
    return EstimateAttempt(params, ok, "ok" if ok else "non-finite or non-positive", penalizer)
