"""Who gets a tier's retention action: capacity by expected loss, or a fixed threshold.

The rule (docs/tiers.md, "Retention"), per tier and its :class:`~segml.tiers.playbooks.Playbook`:

* **capacity** (``retention_capacity`` set, the default playbooks): the bank can work
  ``floor(capacity × customers in the tier)`` customers in a period. They are the customers of
  the tier with the highest **expected loss** ``P(churn) × max(value, 0)`` among those whose
  churn probability is above the portfolio's mean predicted probability (a valuable customer at
  ordinary risk is not a retention case; a loss-maker has nothing to lose) and, when the
  playbook sets ``high_churn_risk``, at or above that floor. :func:`calibrate_retention`
  computes, on the run's customers, the portfolio mean and each tier's **expected-loss cut**
  (halfway between the expected loss of the last customer in and of the first one out, or 0
  when every eligible customer fits) and records them in the playbooks; :func:`retention_flags`
  applies that recorded rule to any customer, so the exported model reproduces the run's flags.
  Ties at the cut are all flagged (a tier may then exceed its capacity by the tied customers).
* **fixed threshold** (``high_churn_risk`` alone, and playbooks saved before capacities):
  flagged when the churn probability is at or above it.
* neither: nobody is flagged.

A missing churn probability is never flagged. :func:`retention_table` and
:func:`retention_summary` give the numbers per tier (the tiers step's ``retention.json``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from segml.tiers.playbooks import Playbook, playbooks_from_json

__all__ = [
    "RULE",
    "calibrate_retention",
    "capacity_customers",
    "expected_loss",
    "retention_flags",
    "retention_summary",
    "retention_table",
]

RULE = (
    "per tier, the playbook's retention capacity (a share of the tier's customers) goes to the "
    "customers with the highest expected loss = P(churn) × max(value, 0) among those whose churn "
    "probability is above the portfolio's mean predicted probability (and at or above the "
    "playbook's high_churn_risk floor, if set); a playbook without a capacity flags churn "
    "probabilities at or above its high_churn_risk"
)
"""The rule in one sentence (``retention.json``)."""


def expected_loss(churn: Any, value: Any) -> np.ndarray:
    """``P(churn) × max(value, 0)`` per customer (NaN where the probability is missing)."""
    return np.asarray(churn, dtype=float) * np.clip(np.asarray(value, dtype=float), 0.0, None)


def _arrays(tiers: Any, churn: Any, value: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(tiers, dtype=object)
    p, v = np.asarray(churn, dtype=float), np.asarray(value, dtype=float)
    if not len(t) == len(p) == len(v):
        raise ValueError(f"tiers, churn and value differ in length: {len(t)}, {len(p)}, {len(v)}")
    return t, p, v


def _eligible(p: np.ndarray, el: np.ndarray, mean: float, floor: float | None) -> np.ndarray:
    """Above the portfolio mean, at or above the floor, something to lose (NaN: never)."""
    ok = np.isfinite(p) & (np.nan_to_num(p, nan=-np.inf) > mean) & (np.nan_to_num(el) > 0)
    return ok & (np.nan_to_num(p, nan=-np.inf) >= floor) if floor is not None else ok


def _cut(el: np.ndarray, k: int) -> float | None:
    """The expected loss halfway between the ``k``-th largest of ``el`` and the next (0 when
    there is none); None when nobody is to be flagged."""
    if k <= 0 or len(el) == 0:
        return None
    s = np.sort(el)[::-1]
    last = s[min(k, len(s)) - 1]
    after = s[k] if k < len(s) else 0.0
    return float((last + after) / 2.0)


def capacity_customers(capacity: float | None, customers: int) -> int | None:
    """How many of ``customers`` a capacity share allows (rounded down), None without one."""
    return None if capacity is None else int(math.floor(capacity * customers + 1e-9))


def calibrate_retention(
    tiers: Sequence[str] | np.ndarray,
    churn: Any,
    value: Any,
    playbooks: Mapping[str, Playbook | None],
) -> dict[str, Playbook | None]:
    """The playbooks with their capacity rule computed on these customers.

    Parameters
    ----------
    tiers : sequence of str
        Each customer's (final) tier.
    churn : array-like of float
        Calibrated churn probability (NaN: unknown, never flagged).
    value : array-like of float
        The value the tiers rank (expected loss uses ``max(value, 0)``).
    playbooks : mapping of str to Playbook or None
        Playbook per tier; those without ``retention_capacity`` (and None) are returned as is.

    Returns
    -------
    dict of str to Playbook or None
        Capacity playbooks with ``retention_min_churn`` (the portfolio's mean probability)
        and ``retention_loss_cut`` (the tier's expected-loss cut, None: nobody) set.

    Raises
    ------
    ValueError
        When a playbook has a capacity and no customer has a churn probability.
    """
    t, p, v = _arrays(tiers, churn, value)
    if not any(pb is not None and pb.retention_capacity is not None for pb in playbooks.values()):
        return dict(playbooks)
    known = np.isfinite(p)
    if not known.any():
        raise ValueError("no customer has a churn probability: cannot size retention capacity")
    mean = float(p[known].mean())
    el = expected_loss(p, v)
    out: dict[str, Playbook | None] = {}
    for name, pb in playbooks.items():
        if pb is None or pb.retention_capacity is None:
            out[name] = pb
            continue
        mine = t == name
        ok = mine & _eligible(p, el, mean, pb.high_churn_risk)
        k = capacity_customers(pb.retention_capacity, int(mine.sum()))
        out[name] = replace(pb, retention_min_churn=mean, retention_loss_cut=_cut(el[ok], k or 0))
    return out


def _tier_flags(pb: Playbook, name: str, p: np.ndarray, el: np.ndarray) -> np.ndarray:
    """The flags of one tier's customers under its playbook."""
    none = np.zeros(len(p), dtype=bool)
    if pb.retention_capacity is None:
        if pb.high_churn_risk is None:
            return none
        return np.nan_to_num(p, nan=-np.inf) >= pb.high_churn_risk
    if pb.retention_min_churn is None:
        if not np.isfinite(p).any():
            return none
        raise ValueError(
            f"the playbook of tier {name!r} has a retention capacity but no calibrated cut: "
            "calibrate it on the run's customers (segml.tiers.calibrate_retention)"
        )
    if pb.retention_loss_cut is None:
        return none
    ok = _eligible(p, el, pb.retention_min_churn, pb.high_churn_risk)
    return ok & (np.nan_to_num(el) >= pb.retention_loss_cut)


def retention_flags(
    tiers: Sequence[str] | np.ndarray,
    churn: Any,
    value: Any,
    playbooks: Mapping[str, Playbook | None],
) -> np.ndarray:
    """Whether each customer is flagged for retention by their tier's playbook.

    The rule recorded in the playbooks is applied as is (see the module docstring): with
    calibrated playbooks this is the run's rule for any customer. A tier without a playbook
    flags nobody.

    Raises
    ------
    ValueError
        When a capacity playbook was not calibrated (and its tier has churn probabilities).
    """
    t, p, v = _arrays(tiers, churn, value)
    el = expected_loss(p, v)
    out = np.zeros(len(t), dtype=bool)
    for name in pd.unique(t):
        pb = playbooks.get(name)
        if pb is not None:
            mine = t == name
            out[mine] = _tier_flags(pb, str(name), p[mine], el[mine])
    return out


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _rule(pb: Playbook | None) -> str:
    if pb is None or (pb.retention_capacity is None and pb.high_churn_risk is None):
        return "none"
    return "capacity" if pb.retention_capacity is not None else "fixed threshold"


def _tier_row(
    name: str, pb: Playbook | None, p: np.ndarray, el: np.ndarray, flag: np.ndarray
) -> dict[str, Any]:
    """One tier's row of :func:`retention_table`."""
    rule = _rule(pb)
    cap = pb.retention_capacity if pb is not None else None
    floor = None if pb is None else pb.high_churn_risk
    eligible = None
    if rule == "capacity" and pb is not None and pb.retention_min_churn is not None:
        eligible = int(_eligible(p, el, pb.retention_min_churn, floor).sum())
        floor = max(pb.retention_min_churn, floor or 0.0)
    total, hit = float(np.nansum(el)), p[flag]
    return {
        "tier": name,
        "rule": rule,
        "customers": len(p),
        "capacity": cap,
        "capacity_customers": capacity_customers(cap, len(p)),
        "eligible": eligible,
        "flagged": int(flag.sum()),
        "flagged_churn_mean": _finite(hit.mean()) if len(hit) else None,
        "flagged_churn_min": _finite(hit.min()) if len(hit) else None,
        "flagged_churn_max": _finite(hit.max()) if len(hit) else None,
        "churn_floor": floor,
        "loss_cut": None if pb is None else pb.retention_loss_cut,
        "expected_loss": total,
        "expected_loss_flagged": float(np.nansum(el[flag])),
        "covered_share": float(np.nansum(el[flag])) / total if total > 0 else None,
    }


def retention_table(
    assignments: pd.DataFrame,
    playbooks: Mapping[str, Playbook | None] | None = None,
    *,
    by: str = "tier",
    churn_col: str = "churn_risk",
    value_col: str = "value",
    flag_col: str = "high_churn_risk",
) -> pd.DataFrame:
    """Per tier: customers, capacity, flagged, their churn, the cut and the loss covered.

    Parameters
    ----------
    assignments : pandas.DataFrame
        Output of :func:`~segml.tiers.assign_tiers` with ``churn_col``.
    playbooks : mapping of str to Playbook, optional
        The (calibrated) playbooks; ``None`` takes those in ``assignments.attrs``.
    by, churn_col, value_col, flag_col : str
        Tier, churn probability, value and flag columns.

    Returns
    -------
    pandas.DataFrame
        One row per tier (the categories' order for a categorical tier): ``tier``, ``rule``
        (``capacity``, ``fixed threshold`` or ``none``), ``customers``, ``capacity`` (share),
        ``capacity_customers``, ``eligible`` (above the probability floor with value > 0),
        ``flagged``, ``flagged_churn_mean``/``_min``/``_max`` (P(churn) of the flagged),
        ``churn_floor`` (the probability a flagged customer must exceed, capacity rule, or reach,
        fixed threshold), ``loss_cut`` (expected-loss cut), ``expected_loss`` (the tier's total,
        ``Σ P × max(value, 0)``), ``expected_loss_flagged`` and ``covered_share`` (their ratio).
        Missing numbers are None.
    """
    books = _saved(assignments, playbooks)
    return pd.DataFrame(_rows(assignments, books, by, churn_col, value_col, flag_col))


def _saved(
    assignments: pd.DataFrame, playbooks: Mapping[str, Playbook | None] | None
) -> Mapping[str, Playbook | None]:
    """``playbooks``, else those :func:`~segml.tiers.assign_tiers` saved in ``attrs``."""
    if playbooks is not None:
        return playbooks
    saved = assignments.attrs.get("tier_playbooks")
    return playbooks_from_json(saved) if saved else {}


def _rows(
    assignments: pd.DataFrame,
    playbooks: Mapping[str, Playbook | None],
    by: str,
    churn_col: str,
    value_col: str,
    flag_col: str,
) -> list[dict[str, Any]]:
    t = assignments[by]
    cats = isinstance(t.dtype, pd.CategoricalDtype)
    names = list(t.cat.categories) if cats else list(pd.unique(t))
    tiers = t.astype(str).to_numpy()
    p = assignments[churn_col].to_numpy(dtype=float, na_value=np.nan)
    el = expected_loss(p, assignments[value_col].to_numpy(dtype=float))
    flag = assignments[flag_col].fillna(False).to_numpy(dtype=bool)
    rows = []
    for name in map(str, names):
        mine = tiers == name
        rows.append(_tier_row(name, playbooks.get(name), p[mine], el[mine], flag[mine]))
    return rows


def retention_summary(
    assignments: pd.DataFrame,
    playbooks: Mapping[str, Playbook | None] | None = None,
    *,
    by: str = "tier",
    churn_col: str = "churn_risk",
    value_col: str = "value",
    flag_col: str = "high_churn_risk",
) -> dict[str, Any]:
    """The rule and :func:`retention_table`'s rows as strict JSON (``retention.json``).

    ``portfolio_mean_churn`` is the mean the calibration used (None without a calibrated
    capacity playbook); ``flagged`` and ``customers`` are the totals, ``tiers`` the rows.
    """
    books = _saved(assignments, playbooks)
    rows = _rows(assignments, books, by, churn_col, value_col, flag_col)
    means = {pb.retention_min_churn for pb in books.values() if pb is not None and pb.calibrated}
    return {
        "rule": RULE,
        "portfolio_mean_churn": next(iter(means)) if len(means) == 1 else None,
        "flagged": sum(r["flagged"] for r in rows),
        "customers": sum(r["customers"] for r in rows),
        "tiers": rows,
    }
