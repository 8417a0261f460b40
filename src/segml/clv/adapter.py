"""The one place segml calls ``lifetimes``: maximum-likelihood fits of the CLV models.

Every function takes plain float arrays and returns an :class:`EstimateAttempt`: the fitted
parameters under their usual names, the optimiser's verdict and message. Nothing else in
:mod:`segml.clv` imports ``lifetimes``; predictions and log-likelihoods are computed by segml
itself (:mod:`segml.clv.formulas`) from the parameters, so another estimator (``pymc-marketing``,
a hand-written optimiser) can replace this module by returning the same attempts.

lifetimes fits BG/NBD, MBG/NBD and Gamma-Gamma with BFGS and raises ``ConvergenceError`` when
BFGS does not report success. On a flat optimum, or on the boundary of the parameter space (no
drop-out: ``a -> 0``), BFGS typically stops with "precision loss": its line search cannot
improve an objective that is flat to rounding, and whether it stops that way or with success
depends on the rounding of the BLAS kernel that runs its updates (OpenBLAS picks one per CPU).
Such a stop is not taken as a failure outright: the point is verified (:func:`_polish`) with
segml's own log-likelihood and a BLAS-free Nelder-Mead polish in lifetimes' parametrisation,
and kept when the polish cannot raise the penalized log-likelihood by more than
:data:`VERIFY_TOL`. Pareto/NBD is fitted by Nelder-Mead already and is not affected.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from segml.clv.formulas import gamma_gamma_log_likelihood, log_likelihood

#: Parameter names of each purchase model, in lifetimes' order.
PURCHASE_PARAMS: dict[str, tuple[str, ...]] = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "pareto": ("r", "alpha", "s", "beta"),
}
#: Gamma-Gamma parameter names (lifetimes calls ``gamma`` ``v``).
SPEND_PARAMS: tuple[str, ...] = ("p", "q", "gamma")
#: A fit whose optimiser stopped without success is kept when a polish cannot raise its
#: penalized log-likelihood, summed over the customers, by more than this. A log-likelihood gap
#: ``d`` is a displacement of at most ``sqrt(2 d)`` standard errors: here 0.045, far below what
#: the data can tell apart.
VERIFY_TOL = 1e-3


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


class _Tracker:
    """A lifetimes objective that remembers its lowest value, where, and its arguments.

    lifetimes raises ``ConvergenceError`` without the point where BFGS stopped; the lowest point
    the optimiser evaluated is that point or a better one.
    """

    def __init__(self, objective: Callable[..., Any]) -> None:
        from autograd.tracer import getval  # lifetimes differentiates its objective with autograd

        self._objective, self._getval = objective, getval
        self.value = np.inf
        self.x: np.ndarray | None = None
        self.args: tuple[Any, ...] = ()

    def __call__(self, params: Any, *args: Any) -> Any:
        value = self._objective(params, *args)
        v = float(self._getval(value))
        if v < self.value:  # NaN never is
            self.value, self.x, self.args = v, np.array(self._getval(params), dtype=float), args
        return value


def _track(model: Any) -> _Tracker:
    """Route ``model``'s objective through a :class:`_Tracker` (shadowing the staticmethod)."""
    tracker = _Tracker(type(model)._negative_log_likelihood)
    model._negative_log_likelihood = tracker
    return tracker


def _polish(
    nll: Callable[[np.ndarray], float], start: np.ndarray, n: float
) -> tuple[np.ndarray | None, str]:
    """Verify that ``start`` minimises ``nll`` (a per-customer mean over ``n`` customers).

    Nelder-Mead from ``start``: derivative-free, so it steps along a flat boundary direction
    instead of stalling in a line search, and free of BLAS calls, so the same ``start`` gives the
    same point on any CPU. The point is an optimum when the polish converges and raises the
    total penalized log-likelihood by at most :data:`VERIFY_TOL`.

    Returns
    -------
    tuple
        The polished point (None when ``start`` is not verified) and what the polish found.
    """
    f0 = nll(start)
    if not np.isfinite(f0):
        return None, "no finite point to verify"
    tol = VERIFY_TOL / n
    res = minimize(
        nll,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": tol * 1e-3, "maxfev": 1000 * len(start)},
    )
    gain = (f0 - float(res.fun)) * n
    polish = "a Nelder-Mead polish of segml's penalized log-likelihood raises it by"
    if not res.success:
        return None, f"not verified: Nelder-Mead polish did not converge ({res.message})"
    if gain > VERIFY_TOL:
        return None, f"not an optimum: {polish} {gain:.3g} > {VERIFY_TOL:g}"
    return res.x, f"verified: {polish} only {gain:.2g} <= {VERIFY_TOL:g}; polished point kept"


def _penalized_nll(
    loglik: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, weights: Any, pen: float
) -> float:
    """lifetimes' objective at log-parameters ``theta``: weighted mean NLL + L2 penalty."""
    params = np.exp(np.asarray(theta, dtype=float))
    with np.errstate(all="ignore"):
        ll = loglik(params)
        value = -(weights * ll).sum() / np.sum(weights) + pen * (params**2).sum()
    return float(value) if np.isfinite(value) else np.inf


def _rescue(
    tracker: _Tracker,
    loglik: Callable[..., np.ndarray],
    stop: str,
    names: tuple[str, ...],
    penalizer: float,
    unscale: Callable[[dict[str, float]], dict[str, float]],
) -> EstimateAttempt:
    """Attempt from a BFGS stop that lifetimes reported as a failure, if the stop is an optimum.

    Parameters
    ----------
    tracker : _Tracker
        The objective lifetimes minimised, with its best point and arguments
        ``(*data, weights, penalizer)``.
    loglik : callable
        ``loglik(params, *data)``: segml's per-customer log-likelihood at natural parameters
        (in lifetimes' scaled time units).
    stop : str
        How lifetimes failed, for the message.
    names, penalizer
        Parameter names and the attempt's penalizer.
    unscale : callable
        Maps the fitted parameters from lifetimes' time scale to the caller's.
    """
    if tracker.x is None:
        return _failed(names, stop, penalizer)
    *data, weights, pen = tracker.args

    def nll(theta: np.ndarray) -> float:
        return _penalized_nll(lambda prm: loglik(prm, *data), theta, weights, float(pen))

    theta, found = _polish(nll, tracker.x, float(np.sum(weights)))
    if theta is None:
        return _failed(names, f"{stop}; {found}", penalizer)
    params = unscale(dict(zip(names, map(float, np.exp(theta)), strict=True)))
    if not all(np.isfinite(v) and v > 0 for v in params.values()):
        return _failed(names, f"{stop}; polished to non-finite or non-positive", penalizer)
    return EstimateAttempt(
        params, True, f"ok, optimiser stopped early ({stop}); {found}", penalizer
    )


def distinct_rows(*columns: np.ndarray) -> list[np.ndarray]:
    """The distinct rows of ``columns`` (sorted) and, last, how many times each occurs.

    Examples
    --------
    >>> distinct_rows(np.array([1.0, 0.0, 1.0]), np.array([5.0, 0.0, 5.0]))
    [array([0., 1.]), array([0., 5.]), array([1, 2])]
    """
    counts = (
        pd.DataFrame({i: c for i, c in enumerate(columns)}).value_counts(sort=False).sort_index()
    )
    keys = [counts.index.get_level_values(i).to_numpy(dtype=float) for i in range(len(columns))]
    return [*keys, counts.to_numpy()]


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


def _stopped(error: Exception | None, printed: str) -> str | None:
    """How BFGS stopped when lifetimes raised ``ConvergenceError`` (its verdict); else None."""
    if error is None or type(error) is not _lifetimes().utils.ConvergenceError:
        return None
    return f"{type(error).__name__}: {printed}" if printed else _describe(error, "")


def _scaled_loglik(kind: str) -> Callable[..., np.ndarray]:
    """segml's log-likelihood of ``kind`` at lifetimes' parameters ``(r, alpha, a, b)``."""

    def loglik(params: np.ndarray, freq: Any, rec: Any, T: Any) -> np.ndarray:
        p = dict(zip(PURCHASE_PARAMS[kind], map(float, params), strict=True))
        return log_likelihood(kind, p, freq, rec, T)

    return loglik


def _gamma_gamma_loglik(params: np.ndarray, freq: Any, m: Any) -> np.ndarray:
    """segml's Gamma-Gamma log-likelihood at lifetimes' parameters ``(p, q, v)``."""
    p = dict(zip(SPEND_PARAMS, map(float, params), strict=True))
    return gamma_gamma_log_likelihood(p, freq, m)


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
        ``success`` is False when lifetimes raises, when a parameter is not finite and positive,
        or when BFGS stops without success (lifetimes' ``ConvergenceError``) at a point that a
        polish of segml's likelihood shows is not an optimum (:func:`_polish`); a verified stop
        succeeds with the polished parameters and says so in ``message``.
    """
    names = PURCHASE_PARAMS[kind]
    model = _fitter(kind, penalizer)
    tracker = None if kind == "pareto" else _track(model)
    kwargs: dict[str, Any] = {}
    if kind == "pareto":
        kwargs["initial_params"] = np.ones(4) if initial is None else initial
    elif initial is not None:
        kwargs["initial_params"] = initial
    # the likelihood is a sum over customers: one term per distinct (frequency, recency, T),
    # weighted by its count, is the same objective (lifetimes' own ``weights``) at a fraction of
    # the work — RFM summaries in whole days repeat many triples
    *data, weights = distinct_rows(frequency, recency, T)
    error, printed = _quietly(lambda: model.fit(*data, weights=weights, **kwargs))
    if tracker is not None and (stop := _stopped(error, printed)) is not None:
        scale = float(model._scale)  # lifetimes fits in time divided by max(T)

        def unscale(p: dict[str, float]) -> dict[str, float]:
            return p | {"alpha": p["alpha"] / scale}

        return _rescue(tracker, _scaled_loglik(kind), stop, names, penalizer, unscale)
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
        Parameters ``p``, ``q``, ``gamma``; a BFGS stop without success is verified as in
        :func:`fit_purchase`.
    """
    model = _lifetimes().GammaGammaFitter(penalizer_coef=penalizer)
    tracker = _track(model)
    error, printed = _quietly(lambda: model.fit(frequency, monetary_value, initial_params=initial))
    if (stop := _stopped(error, printed)) is not None:
        return _rescue(tracker, _gamma_gamma_loglik, stop, SPEND_PARAMS, penalizer, dict)
    if error is not None:
        return _failed(SPEND_PARAMS, _describe(error, printed), penalizer)
    params = {"p": float(model.params_["p"]), "q": float(model.params_["q"])}
    params["gamma"] = float(model.params_["v"])
    ok = all(np.isfinite(v) and v > 0 for v in params.values())
    return EstimateAttempt(params, ok, "ok" if ok else "non-finite or non-positive", penalizer)
