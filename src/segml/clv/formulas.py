"""Closed forms of the BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma models, stable in log space.

lifetimes evaluates these with raw powers and Gauss hypergeometric functions whose parameters
grow with the customer's frequency ``x``; for heavy buyers (``x`` in the hundreds or thousands,
as daily banking activity gives) they overflow to ``inf``/``nan``. Here:

* P(alive) is a logistic function of a log-odds, never a ratio of powers;
* the conditional expectations are ``P(alive)`` times a bounded factor. For the BG models Euler's
  transformation ``2F1(a, b; c; z) = (1 - z)^(c - a - b) 2F1(c - a, c - b; c; z)`` moves ``x``
  into the lower parameter only: ``((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)`` equals
  ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)`` with ``z = t/(α+T+t)``;
* Pareto/NBD's ``A0`` (Fader & Hardie 2005, note 009, eq. 19-20) is the difference of two terms
  whose ratio is formed in log space; each ``2F1(r+s+x, ·; r+s+x+1; z)`` is rewritten by the same
  transformation as ``(1 - z)^k 2F1(1, ·; r+s+x+1; z)``, a series bounded by ``1/(1 - z)``.

Every function takes parameter dicts under the usual names and float arrays in one time unit.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln, hyp2f1

__all__ = [
    "expected_purchases",
    "expected_spend",
    "gamma_gamma_log_likelihood",
    "log_likelihood",
    "p_alive",
]


def _logexpm1(d: np.ndarray) -> np.ndarray:
    """``log(exp(d) - 1)`` for ``d >= 0`` without overflow (``-inf`` at 0)."""
    with np.errstate(divide="ignore"):
        return d + np.log(-np.expm1(-d))


def _pareto_log_odds_dead(
    p: dict[str, float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """``log R`` where Pareto/NBD's P(alive) = 1 / (1 + R) and its likelihood ∝ 1 + R.

    ``R = s / (r+s+x) (α+T)^(r+x) (β+T)^s A0`` with ``A0 = F(tx)/(m+tx)^(r+s+x) -
    F(T)/(m+T)^(r+s+x)``, ``m = max(α, β)``, ``F(t) = 2F1(r+s+x, k; r+s+x+1; |α-β|/(m+t))``,
    ``k = s+1`` if α ≥ β else ``r+x``; ``F = (1-z)^e h`` with ``h = 2F1(1, ·; r+s+x+1; z)``.
    """
    r, alpha, s, beta = p["r"], p["alpha"], p["s"], p["beta"]
    rsf = r + s + x
    m = max(alpha, beta)
    # (exponent e of 1 - z, upper parameter of h) after Euler's transformation
    e, k = (-s, r + x) if alpha >= beta else (1 - r - x, s + 1.0)

    def log_1mz(t: np.ndarray) -> np.ndarray:
        return np.log((min(alpha, beta) + t) / (m + t))

    def log_h(t: np.ndarray) -> np.ndarray:
        return np.log(hyp2f1(1.0, k, rsf + 1, abs(alpha - beta) / (m + t)))

    log_h_T = log_h(T)
    d = e * (log_1mz(tx) - log_1mz(T)) + log_h(tx) - log_h_T + rsf * np.log((m + T) / (m + tx))
    d = np.maximum(d, 0.0)  # rounding when tx == T
    # log R = log s - log rsf + (r+x) log(α+T) + s log(β+T) - rsf log(m+T) + log F(T)
    #         + log(expm1(d)); the powers and (1-z)^e at T reduce to (1-z) at T, or nothing.
    lead = log_1mz(T) if alpha < beta else 0.0
    return np.log(s) - np.log(rsf) + lead + log_h_T + _logexpm1(d)


def _bg_log_odds_dead(
    kind: str, p: dict[str, float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    ratio = (r + x) * np.log((alpha + T) / (alpha + tx))
    if kind == "bgnbd":
        return ratio + np.log(a) - np.log(b + np.maximum(x, 1) - 1)
    return ratio + np.log(a) - np.log(b + x)


def p_alive(
    kind: str, p: dict[str, float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Probability that a customer with history ``(x, tx, T)`` is alive at ``T``.

    Parameters
    ----------
    kind : {"bgnbd", "mbgnbd", "pareto"}
        The model.
    p : dict
        Its parameters.
    x, tx, T : ndarray
        Repeat purchases, time of the last purchase and age, from the first purchase.

    Returns
    -------
    ndarray
        Values in [0, 1]; BG/NBD gives 1 to customers without repeat purchases.
    """
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    with np.errstate(over="ignore"):
        if kind == "pareto":
            return np.atleast_1d(expit(-_pareto_log_odds_dead(p, x, tx, T)))
        out = expit(-_bg_log_odds_dead(kind, p, x, tx, T))
    if kind == "bgnbd":
        out = np.where(x == 0, 1.0, out)
    return np.atleast_1d(out)


def expected_purchases(
    kind: str, p: dict[str, float], t: float | np.ndarray, x: np.ndarray, tx: np.ndarray,
    T: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Expected repeat purchases in the next ``t`` time units given the history ``(x, tx, T)``.

    Same arguments as :func:`p_alive`, plus ``t`` (scalar or per customer). Finite for any
    frequency; equal to lifetimes' ``conditional_expected_number_of_purchases_up_to_time`` where
    that is finite.
    """
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    t = np.asarray(t, dtype=float)
    alive = p_alive(kind, p, x, tx, T)
    if kind == "pareto":
        r, alpha, s, beta = p["r"], p["alpha"], p["s"], p["beta"]
        grow = np.log1p(t / (beta + T))
        factor = grow if abs(s - 1) < 1e-10 else -np.expm1(-(s - 1) * grow) / (s - 1)
        return np.atleast_1d(alive * (r + x) * (beta + T) / (alpha + T) * factor)
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    z, x = np.broadcast_arrays(t / (alpha + T + t), x)
    c = a + b + x - 1 if kind == "bgnbd" else a + b + x
    with np.errstate(all="ignore"):
        scaled = c * (1 - (1 - z) ** (a - 1) * hyp2f1(c - x - r, a - 1, c, z))
    bad = ~np.isfinite(scaled)
    if bad.any():  # c near a pole of 2F1 (a, b -> 0 at the no-dropout boundary): series form
        scaled = np.array(scaled, dtype=float)
        scaled[bad] = _scaled_bracket_series(c[bad], (c - x - r)[bad], a - 1, z[bad])
    return np.atleast_1d(alive * scaled / (a - 1))


def _scaled_bracket_series(
    c: np.ndarray, A: np.ndarray, B: float, z: np.ndarray, max_terms: int = 200_000
) -> np.ndarray:
    """``c (1 - (1-z)^B 2F1(A, B; c; z))`` without the ``1/c`` of ``2F1`` as ``c -> 0``.

    ``2F1(A, B; c; z) = 1 + (A B z / c) S`` with ``S = Σ_n (A+1)_n (B+1)_n / ((c+1)_n (2)_n) z^n``,
    so the product is ``c - (1-z)^B (c + A B z S)``; the series converges like ``z^n``.
    """
    term = np.ones_like(c)
    total = np.ones_like(c)
    for n in range(max_terms):
        term = term * (A + 1 + n) * (B + 1 + n) * z / ((c + 1 + n) * (2 + n))
        total += term
        if np.all(np.abs(term) <= 1e-16 * np.abs(total)):
            break
    return c - (1 - z) ** B * (c + A * B * z * total)


def log_likelihood(
    kind: str, p: dict[str, float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood of a purchase model (same arguments as :func:`p_alive`)."""
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    if kind == "pareto":
        r, alpha, s, beta = p["r"], p["alpha"], p["s"], p["beta"]
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        head = head - (r + x) * np.log(alpha + T) - s * np.log(beta + T)
        return head + np.logaddexp(0.0, _pareto_log_odds_dead(p, x, tx, T))
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a3 = -(r + x) * np.log(alpha + T)
    if kind == "bgnbd":
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + tx)
        a4 = np.where(x > 0, a4, -np.inf)
        return a1 + a2 + np.logaddexp(a3, a4)
    a2 = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
    a4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    return a1 + a2 + a3 + np.logaddexp(a4, 0.0)


def expected_spend(p: dict[str, float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gamma-Gamma expected spend per purchase given ``x`` repeat purchases of mean ``m``.

    The posterior mean ``(γ p + p x m) / (p x + q - 1)``: the customer's rate ``ν`` is
    ``Gamma(q + p x, γ + x m)`` a posteriori and ``E[p / ν]`` is finite only when
    ``p x + q > 1``. Where ``p x + q <= 1`` — possible when ``q <= 1``, heavy-tailed spend — the
    expectation is infinite and the result is NaN (lifetimes returns the formula's value there:
    negative or meaningless). Customers without repeat purchases get the population mean
    ``γ p / (q - 1)``, NaN when ``q <= 1``.
    """
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    pp, q, g = p["p"], p["q"], p["gamma"]
    m = np.where(x > 0, m, 0.0)
    denom = pp * x + q - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom > 0, (g * pp + pp * x * m) / denom, np.nan)
    return np.atleast_1d(out)


def gamma_gamma_log_likelihood(p: dict[str, float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of ``x > 0`` purchases of mean ``m > 0``."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    pp, q, g = p["p"], p["q"], p["gamma"]
    return (
        gammaln(pp * x + q)
        - gammaln(pp * x)
        - gammaln(q)
        + q * np.log(g)
        + (pp * x - 1) * np.log(m)
        + pp * x * np.log(x)
        - (pp * x + q) * np.log(x * m + g)
    )
