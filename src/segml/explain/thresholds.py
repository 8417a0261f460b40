"""Why this tier and not the next: distances to the tier thresholds and what crossed them.

A tier policy cuts the value score at thresholds; in score space, tier *t* starts at the lowest
score of its customers (:func:`tier_thresholds`). For every customer :func:`threshold_report`
gives the threshold below (the score it must keep to stay in its tier) and above (the score
the next better tier starts at), the distance to each, and, from the customer's own
contributions:

* ``lifted_by`` — the fewest largest positive drivers without which the score would fall
  below the tier's threshold (what put the customer in this tier rather than the one below);
* ``held_back_by`` — the fewest most negative drivers without which the score would reach the
  next tier (what keeps the customer out of it).

Both use the facet groups of :mod:`segml.explain.reasons` and are exact: removing a driver
means subtracting its contribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segml.explain.reasons import group_contributions
from segml.explain.result import ModelExplanation
from segml.tiers.policy import TierPolicy

__all__ = ["threshold_report", "tier_thresholds"]


def tier_thresholds(score: np.ndarray, policy: TierPolicy) -> pd.DataFrame:
    """Score range of each tier the policy assigns to ``score``.

    Returns
    -------
    DataFrame
        One row per tier in ``policy.labels`` order: ``tier``, ``customers``, ``min_score``
        (the tier's threshold in score space; NaN when empty), ``max_score``.
    """
    s = np.asarray(score, dtype=float)
    levels = policy.levels(s)
    rows = []
    for i, t in enumerate(policy.labels):
        mask = levels == i
        rows.append(
            {
                "tier": t,
                "customers": int(mask.sum()),
                "min_score": float(s[mask].min()) if mask.any() else np.nan,
                "max_score": float(s[mask].max()) if mask.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _leading(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the ``k`` largest ``values``, largest first, ties by column: the
    first ``k`` columns of ``np.argsort(-values, axis=1, kind="stable")``, without sorting
    whole rows (a million rows × ~40 groups, twice per explanation stage)."""
    n, g = values.shape
    k = min(k, g)
    if k == g or np.isnan(values).any():
        return np.argsort(-values, axis=1, kind="stable")[:, :k]
    kth = np.partition(values, g - k, axis=1)[:, g - k]  # the k-th largest value of each row
    above = values > kth[:, None]
    chosen = values >= kth[:, None]
    over = np.flatnonzero(chosen.sum(axis=1) > k)  # rows tied at the k-th: keep the first ties
    if len(over):
        tie = chosen[over] & ~above[over]
        room = k - above[over].sum(axis=1)
        chosen[over] = above[over] | (tie & (np.cumsum(tie, axis=1) <= room[:, None]))
    cols = np.nonzero(chosen)[1].reshape(n, k)
    order = np.argsort(-np.take_along_axis(values, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def _fewest(values: np.ndarray, lead: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """Per row, how many of the largest non-negative ``values`` must go to exceed ``needed``
    (0: not all of them do; more than ``lead``'s width when its columns, the largest, are too
    few). Sums run in descending order, as a cumulative sum over the sorted row would."""
    if np.isnan(values).any():  # NaN sorts last and stops the sums: the whole sorted row decides
        lead = np.argsort(-values, axis=1, kind="stable")
    top = np.take_along_axis(values, lead, axis=1)
    reach = np.cumsum(top, axis=1) > needed[:, None]
    hit = reach.any(axis=1)
    total = values.sum(axis=1)
    near = ~hit & (np.abs(total - needed) <= 1e-9 * np.maximum(np.abs(total), 1.0))
    if near.any():  # a different order of the sum could round to the other side: sum as sorted
        total[near] = np.cumsum(-np.sort(-values[near], axis=1), axis=1)[:, -1]
    more = np.where(total > needed, lead.shape[1] + 1, 0)  # NaN total: 0, as no prefix reached
    return np.where(hit, np.argmax(reach, axis=1) + 1, more)


def _names(order: np.ndarray, count: np.ndarray, groups: np.ndarray, limit: int) -> list[str | None]:  # fmt: skip
    out: list[str | None] = []
    for row, c in zip(order, count, strict=True):
        out.append(";".join(groups[row[: min(c, limit)]]) if c else None)
    return out


def threshold_report(
    explanation: ModelExplanation,
    policy: TierPolicy,
    limit: int = 4,
) -> pd.DataFrame:
    """Per customer: value tier, thresholds below and above, distances, and the drivers.

    Parameters
    ----------
    explanation : ModelExplanation
        The value score's explanation over the whole tiered population (the thresholds are
        the population's).
    policy : TierPolicy
        The policy that tiered ``explanation.score``.
    limit : int
        Most drivers named in ``lifted_by`` / ``held_back_by``.

    Returns
    -------
    DataFrame
        ``customer_id``, ``tier_by_value``, ``threshold_below``, ``threshold_above`` (NaN for
        the lowest / highest tier), ``margin_below`` (score − threshold below), ``gap_to_next``
        (threshold above − score), ``lifted_by``, ``held_back_by`` (``;``-joined facet groups).
    """
    score = explanation.score
    levels = policy.levels(score)
    thr = tier_thresholds(score, policy)["min_score"].to_numpy()
    labels = np.asarray(policy.labels, dtype=object)
    n_tiers = len(labels)
    below = np.where(levels < n_tiers - 1, thr[np.minimum(levels, n_tiers - 1)], np.nan)
    if policy.loss_tier is not None:  # the profitable tiers end at 0, the lead tier below it
        last_ranked = n_tiers - 2
        below = np.where(levels == last_ranked, 0.0, below)
    prev = np.maximum(levels - 1, 0)
    above = np.where(levels > 0, thr[prev], np.nan)
    margin = score - below
    gap = above - score
    grouped, groups, _, _, _ = group_contributions(explanation.values, explanation.feature_names)
    g = np.asarray(groups, dtype=object)
    pos = np.clip(grouped, 0.0, None)
    order_pos = _leading(pos, limit)
    lifted = _fewest(pos, order_pos, np.nan_to_num(margin, nan=np.inf))
    del pos  # customers × groups: a million rows × 40 groups is 0.3 GB a copy
    neg = np.clip(np.negative(grouped, out=grouped), 0.0, None, out=grouped)
    order_neg = _leading(neg, limit)
    held = _fewest(neg, order_neg, np.nan_to_num(gap, nan=np.inf) - 1e-9)
    return pd.DataFrame(
        {
            "customer_id": explanation.ids,
            "tier_by_value": labels[levels],
            "threshold_below": below,
            "threshold_above": above,
            "margin_below": margin,
            "gap_to_next": gap,
            "lifted_by": _names(order_pos, lifted, g, limit),
            "held_back_by": _names(order_neg, held, g, limit),
        }
    )
