"""Choosing the number of segments from per-k scores: stability, BIC elbow, silhouette.

:func:`select_k` is the rule over a full score table (one row per candidate k).
:func:`select_k_lazily` reaches the same choice while computing the bootstrap stability — the
costly score, several refits per candidate — only of the candidates the rule has to look at:
it walks the candidates in the rule's order of preference and stops at the first stable one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["K_RULES", "KRules", "bic_elbow", "elbow_gain", "preference_order", "select_k",
           "select_k_lazily"]  # fmt: skip

KRules = Literal["elbow", "bic"]
K_RULES: tuple[str, ...] = ("elbow", "bic")


def elbow_gain(ks: np.ndarray, bic: np.ndarray) -> np.ndarray:
    """How far each candidate's BIC fall lies above the straight line to the lowest BIC.

    Both axes are scaled to [0, 1] — k from the smallest candidate to the one with the lowest
    BIC, the BIC as the share of its whole fall — and each candidate gets (share of the fall) −
    (share of the k range) (Satopää et al.'s "kneedle"). Positive values mark diminishing
    returns: past the largest one, each added segment buys less than the average one.
    Candidates past the lowest BIC get NaN. Returned in the order of ``ks``.
    """
    ks, bic = np.asarray(ks, dtype=float), np.asarray(bic, dtype=float)
    out = np.full(len(ks), np.nan)
    order = np.argsort(ks, kind="stable")
    k_sorted, b_sorted = ks[order], bic[order]
    stop = int(np.argmin(b_sorted)) + 1
    if stop < 3 or b_sorted[0] == b_sorted[stop - 1]:
        out[order[:stop]] = 0.0
        return out
    x = (k_sorted[:stop] - k_sorted[0]) / (k_sorted[stop - 1] - k_sorted[0])
    y = (b_sorted[0] - b_sorted[:stop]) / (b_sorted[0] - b_sorted[stop - 1])
    out[order[:stop]] = y - x
    return out


def bic_elbow(ks: np.ndarray, bic: np.ndarray) -> int:
    """The k at the elbow of a falling BIC curve (largest :func:`elbow_gain`), or the k of the
    lowest BIC when no candidate shows diminishing returns. Ties go to the smaller k."""
    gain = elbow_gain(ks, bic)
    ks = np.asarray(ks)
    if not np.nanmax(gain) > 0:
        return int(ks[int(np.argmin(bic))])
    best = np.flatnonzero(gain == np.nanmax(gain))
    return int(ks[best].min())


def select_k(
    scores: pd.DataFrame, method: str, min_stability: float, rule: KRules = "elbow"
) -> int:
    """The number of segments chosen from the per-k scores.

    Rule: keep the candidates whose bootstrap stability (mean adjusted Rand index between
    resampled clusterings) is at least ``min_stability``. Among them the mixtures (``gmm``,
    ``mixed``) take the elbow of the BIC curve of all candidates (the stable k with the largest
    :func:`elbow_gain`; the lowest BIC when none is positive; ``rule="bic"``: always the lowest
    BIC, which on customer data keeps falling with k and so picks the largest stable k), and
    ``kmeans`` the highest silhouette. When no candidate is that stable, take the most stable
    one. Ties go to the smaller k.

    Parameters
    ----------
    scores : DataFrame
        One row per candidate with columns ``k``, ``stability``, ``silhouette`` and ``bic``.
    method : str
        ``"kmeans"``, ``"gmm"`` or ``"mixed"``.
    min_stability : float
        Stability a candidate needs to be eligible.
    rule : {"elbow", "bic"}, default "elbow"
        How the mixtures choose among the stable candidates.

    Returns
    -------
    int
    """
    if rule not in K_RULES:
        raise ValueError(f"rule must be one of {K_RULES}, got {rule!r}")
    s = scores.sort_values("k")
    stab = s["stability"].fillna(1.0)
    eligible = s[stab >= min_stability]
    if eligible.empty:
        return int(s.loc[stab.idxmax(), "k"])
    if method == "kmeans" or eligible["bic"].isna().all():
        return int(eligible.loc[eligible["silhouette"].fillna(-1).idxmax(), "k"])
    if rule == "elbow":
        # the curve's shape comes from every candidate; the choice from the stable ones
        scored = s[s["bic"].notna()]
        gain = pd.Series(elbow_gain(scored["k"].to_numpy(), scored["bic"].to_numpy()), scored.index)
        gain = gain.reindex(eligible.index)
        if (gain > 0).any():
            return int(s.loc[gain.idxmax(), "k"])  # idxmax: the first (smallest k) on ties
    return int(eligible.loc[eligible["bic"].idxmin(), "k"])


def preference_order(scores: pd.DataFrame, method: str, rule: KRules = "elbow") -> list[int]:
    """The candidates in the order :func:`select_k` prefers them, stability aside.

    :func:`select_k` picks the first stable candidate of this order (when one is stable):
    k-means (or mixtures without a BIC) by silhouette, highest first; mixtures under
    ``rule="elbow"`` the candidates with a positive :func:`elbow_gain`, largest first, then every
    candidate by BIC, lowest first; under ``rule="bic"`` by BIC. Ties go to the smaller k. A k
    may appear twice (the first time decides).

    Parameters
    ----------
    scores : DataFrame
        One row per candidate with columns ``k``, ``silhouette`` and ``bic``.
    method : str
        ``"kmeans"``, ``"gmm"`` or ``"mixed"``.
    rule : {"elbow", "bic"}, default "elbow"

    Returns
    -------
    list of int
    """
    if rule not in K_RULES:
        raise ValueError(f"rule must be one of {K_RULES}, got {rule!r}")
    s = scores.sort_values("k")
    ks = s["k"].astype(int).to_numpy()
    if method == "kmeans" or s["bic"].isna().all():
        return [int(k) for k in ks[np.lexsort((ks, -s["silhouette"].fillna(-1).to_numpy()))]]
    bic = s["bic"].to_numpy(dtype=float)
    by_bic = [int(k) for k in ks[np.lexsort((ks, np.where(np.isnan(bic), np.inf, bic)))]]
    if rule == "bic":
        return by_bic
    scored = ~np.isnan(bic)
    gain = np.full(len(ks), np.nan)
    gain[scored] = elbow_gain(ks[scored], bic[scored])
    up = np.flatnonzero(gain > 0)
    return [int(k) for k in ks[up][np.lexsort((ks[up], -gain[up]))]] + by_bic


def select_k_lazily(
    scores: pd.DataFrame,
    method: str,
    min_stability: float,
    stability: Callable[[int], tuple[float, float]],
    rule: KRules = "elbow",
) -> tuple[int, dict[int, tuple[float, float]]]:
    """:func:`select_k`'s choice, computing ``stability(k)`` only where the choice needs it.

    The candidates are tried in :func:`preference_order`; the first whose stability reaches
    ``min_stability`` (or is NaN: not measurable, as :func:`select_k` counts it) is the
    choice. When none is stable every candidate has been measured and the most stable one is
    taken, as :func:`select_k` does. Mixtures with a missing BIC measure every candidate.

    Parameters
    ----------
    scores : DataFrame
        One row per candidate with columns ``k``, ``silhouette`` and ``bic`` (no stability).
    method : str
        ``"kmeans"``, ``"gmm"`` or ``"mixed"``.
    min_stability : float
        Stability a candidate needs to be eligible.
    stability : callable
        ``k -> (mean, std)`` of the bootstrap stability of candidate ``k``.
    rule : {"elbow", "bic"}, default "elbow"

    Returns
    -------
    k : int
        The chosen number of segments.
    measured : dict
        ``k -> (mean, std)`` of every candidate whose stability was computed.

    Examples
    --------
    >>> scores = pd.DataFrame({"k": [2, 3, 4, 5], "silhouette": [0.3, 0.2, 0.2, 0.1],
    ...                        "bic": [100.0, 60.0, 50.0, 48.0]})
    >>> table = {2: 0.99, 3: 0.95, 4: 0.6, 5: 0.5}
    >>> select_k_lazily(scores, "mixed", 0.75, lambda k: (table[k], 0.0))
    (3, {3: (0.95, 0.0)})
    """
    measured: dict[int, tuple[float, float]] = {}
    order = preference_order(scores, method, rule)
    if method != "kmeans" and scores["bic"].isna().any() and not scores["bic"].isna().all():
        order = []  # a partial BIC curve: measure every candidate, let select_k decide
    for k in order:
        if k not in measured:
            measured[k] = stability(k)
        if not measured[k][0] < min_stability:  # NaN counts as stable, as in select_k
            return k, measured
    for k in sorted(int(k) for k in scores["k"]):
        if k not in measured:
            measured[k] = stability(k)
    full = scores.assign(stability=scores["k"].map(lambda k: measured[int(k)][0]))
    return select_k(full, method, min_stability, rule), measured
