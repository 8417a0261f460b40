"""Tier migration between two as-of dates, and the population stability index (PSI).

:func:`tier_migration` compares two tier assignments (each from
:func:`~segml.tiers.assign.assign_tiers` at its own as-of date): the migration matrix in
customers and in value, upgrade/downgrade/stay rates among customers tiered at both dates,
new and lost customers, and the PSI of the value score between the two dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NEW, LOST = "new", "lost"

#: PSI bands: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 a major shift.
PSI_STABLE, PSI_MAJOR = 0.10, 0.25


def psi(
    reference: pd.Series | np.ndarray,
    current: pd.Series | np.ndarray,
    bins: int = 10,
    eps: float = 1e-4,
) -> float:
    """Population stability index of a score between a reference and a current sample.

    Parameters
    ----------
    reference, current : array-like of float
        The score at the earlier (reference) and later date; NaN is rejected.
    bins : int
        Number of quantile bins taken from the reference (10: deciles). Repeated quantiles
        (ties) merge bins, so there may be fewer.
    eps : float
        Share given to a bin that holds no one in either sample, so the log stays finite.

    Returns
    -------
    float
        ``sum((q - p) * ln(q / p))`` over bins, with ``p`` and ``q`` the reference and
        current shares per bin; bins are ``(e[k-1], e[k]]`` with the outer edges at ±inf.
    """
    r = np.asarray(reference, dtype=float).reshape(-1)
    c = np.asarray(current, dtype=float).reshape(-1)
    if not len(r) or not len(c):
        raise ValueError("PSI needs non-empty samples")
    if np.isnan(r).any() or np.isnan(c).any():
        raise ValueError("PSI samples must not contain NaN")
    edges = np.unique(np.quantile(r, np.arange(1, bins) / bins))
    k = len(edges) + 1
    p = np.bincount(np.searchsorted(edges, r, side="left"), minlength=k) / len(r)
    q = np.bincount(np.searchsorted(edges, c, side="left"), minlength=k) / len(c)
    p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_label(value: float) -> str:
    """Name the size of a population shift.

    Parameters
    ----------
    value : float
        A PSI.

    Returns
    -------
    str
        ``"stable"`` (< 0.1), ``"moderate"`` (0.1 to 0.25) or ``"major"`` (> 0.25).
    """
    if value < PSI_STABLE:
        return "stable"
    return "moderate" if value <= PSI_MAJOR else "major"


@dataclass(frozen=True)
class TierMigration:
    """Tier migration between two dates.

    Attributes
    ----------
    counts : pandas.DataFrame
        Customers by tier before (rows, plus ``new``) and after (columns, plus ``lost``).
    value_before, value_after : pandas.DataFrame
        Sum of the value score at the earlier / later date in each cell (0 where the
        customer has no value at that date: the ``new`` row before, the ``lost`` column after).
    upgrade_rate, downgrade_rate, stay_rate : float
        Among customers tiered at both dates: share that moved to a more valuable tier, to a
        less valuable tier, or stayed (they sum to 1; NaN if none is at both dates).
    n_both, n_new, n_lost : int
        Customers at both dates, only at the later date, only at the earlier date.
    new_share, lost_share : float
        ``n_new / customers after`` and ``n_lost / customers before``.
    psi : float
        PSI of the value score, later date against the earlier (reference) one.
    psi_label : str
        ``stable``, ``moderate`` or ``major`` (see :func:`psi_label`).
    """

    counts: pd.DataFrame
    value_before: pd.DataFrame
    value_after: pd.DataFrame
    upgrade_rate: float
    downgrade_rate: float
    stay_rate: float
    n_both: int
    n_new: int
    n_lost: int
    new_share: float
    lost_share: float
    psi: float
    psi_label: str

    def transition_rates(self) -> pd.DataFrame:
        """Row-normalised counts: the share of each earlier tier that went to each later one."""
        return self.counts.div(self.counts.sum(axis=1).replace(0, np.nan), axis=0)

    def summary(self) -> dict[str, float | int | str]:
        """The scalar figures as a dict."""
        keys = ("upgrade_rate", "downgrade_rate", "stay_rate", "n_both", "n_new", "n_lost")
        keys += ("new_share", "lost_share", "psi", "psi_label")
        return {k: getattr(self, k) for k in keys}


def _order(before: pd.Series, after: pd.Series, order: Sequence[str] | None) -> list[str]:
    if order is None:
        cats = [
            list(s.cat.categories)
            for s in (before, after)
            if isinstance(s.dtype, pd.CategoricalDtype)
        ]
        if not cats:
            raise ValueError("pass order= (tiers from most to least valuable) for plain tiers")
        if any(c != cats[0] for c in cats):
            raise ValueError(f"the two dates use different tiers: {cats}")
        order = cats[0]
    order = [str(t) for t in order]
    seen = set(before.astype(str)) | set(after.astype(str))
    unknown = seen - set(order)
    if unknown:
        raise ValueError(f"tier(s) {sorted(unknown)} not in order {order}")
    if NEW in order or LOST in order:
        raise ValueError(f"tier names {NEW!r} and {LOST!r} are reserved for migration")
    return order


def tier_migration(
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    order: Sequence[str] | None = None,
    id_col: str = "customer_id",
    tier_col: str = "tier",
    value_col: str = "value",
    psi_bins: int = 10,
) -> TierMigration:
    """Compare the tiers of the same customers at two as-of dates.

    Parameters
    ----------
    before, after : pandas.DataFrame
        Assignments at the earlier and later date (``id_col``, ``tier_col``, ``value_col``).
    order : sequence of str, optional
        Tiers from most to least valuable; defaults to the categories of ``tier_col``.
    id_col, tier_col, value_col : str
        Column names.
    psi_bins : int
        Quantile bins of the PSI.

    Returns
    -------
    TierMigration
    """
    for name, d in (("before", before), ("after", after)):
        if not d[id_col].is_unique:
            raise ValueError(f"{id_col} is not unique in {name}")
    tiers = _order(before[tier_col], after[tier_col], order)
    b = pd.DataFrame({"id": before[id_col].to_numpy(), "tb": before[tier_col].astype(str)})
    b["vb"] = before[value_col].to_numpy(dtype=float)
    a = pd.DataFrame({"id": after[id_col].to_numpy(), "ta": after[tier_col].astype(str)})
    a["va"] = after[value_col].to_numpy(dtype=float)
    m = b.merge(a, on="id", how="outer")
    m["tb"], m["ta"] = m.tb.fillna(NEW), m.ta.fillna(LOST)
    m["vb"], m["va"] = m.vb.fillna(0.0), m.va.fillna(0.0)
    rows, cols = [*tiers, NEW], [*tiers, LOST]

    def matrix(values: str | None) -> pd.DataFrame:
        if values is None:
            t = pd.crosstab(m.tb, m.ta)
        else:
            t = pd.crosstab(m.tb, m.ta, values=m[values], aggfunc="sum")
        t = t.reindex(index=rows, columns=cols).fillna(0)
        t.index.name, t.columns.name = "tier_before", "tier_after"
        return t.astype(np.int64) if values is None else t.astype(float)

    both = m[(m.tb != NEW) & (m.ta != LOST)]
    pos = {t: i for i, t in enumerate(tiers)}
    lb, la = both.tb.map(pos).to_numpy(), both.ta.map(pos).to_numpy()
    n_both = len(both)
    rate = (lambda x: float(x.mean())) if n_both else (lambda x: float("nan"))
    n_new, n_lost = int((m.tb == NEW).sum()), int((m.ta == LOST).sum())
    score = psi(b.vb, a.va, bins=psi_bins)
    return TierMigration(
        counts=matrix(None),
        value_before=matrix("vb"),
        value_after=matrix("va"),
        upgrade_rate=rate(la < lb),
        downgrade_rate=rate(la > lb),
        stay_rate=rate(la == lb),
        n_both=n_both,
        n_new=n_new,
        n_lost=n_lost,
        new_share=n_new / len(a) if len(a) else float("nan"),
        lost_share=n_lost / len(b) if len(b) else float("nan"),
        psi=score,
        psi_label=psi_label(score),
    )
