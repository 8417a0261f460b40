"""Tier policies: a frozen, versioned mapping from a value score to tier names.

One dataclass, :class:`TierPolicy`, covers the three built-in kinds, chosen by ``kind``:

``"rank"``
    Tiers by value rank: ``cutoffs`` are cumulative shares of *customers* (the default
    pyramid: top 1% ``most_important``, rest of the top 20% ``key``, next 30% ``ordinary``,
    last 50% ``small``).
``"value_share"``
    ABC (Pareto) tiers: ``cutoffs`` are cumulative shares of total *positive value*; tier A
    is the smallest set of top customers who together hold at least the first cutoff.
``"rank_with_loss"``
    The customer pyramid: customers with value < 0 form ``loss_tier`` (``lead``); the others
    are ranked among themselves with ``cutoffs`` as under ``"rank"``.

Every policy is saved as JSON with each run (:meth:`TierPolicy.to_json`) and read back
unchanged (:meth:`TierPolicy.from_json`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np
import pandas as pd

PolicyKind = Literal["rank", "value_share", "rank_with_loss"]
KINDS: tuple[str, ...] = ("rank", "value_share", "rank_with_loss")

#: Tolerance when comparing a cumulative share with a cutoff (absorbs rounding in sums).
SHARE_TOL = 1e-9


def _rank_share(v: np.ndarray) -> np.ndarray:
    """Cumulative customer share ``(rank + 1) / n`` by descending value, ties by position."""
    n = len(v)
    order = np.argsort(-v, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return (rank + 1) / max(n, 1)


def _by_share(share: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """Index of the first tier whose cutoff is at or above each customer share."""
    idx = np.searchsorted(cutoffs + 1e-12, share, side="left")
    return np.minimum(idx, len(cutoffs) - 1)


def _by_value_share(v: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """ABC tier index: the first tier whose cutoff the value *before* a customer is below."""
    n = len(v)
    order = np.argsort(-v, kind="stable")
    pos = np.clip(v[order], 0.0, None)
    total = pos.sum()
    idx_sorted = np.full(n, len(cutoffs) - 1, dtype=np.int64)
    if total > 0:
        before = (np.cumsum(pos) - pos) / total
        # a customer whose positive value is 0 adds nothing: it joins the last tier
        k = np.searchsorted(cutoffs - SHARE_TOL, before, side="right")
        idx_sorted = np.where(pos > 0, np.minimum(k, len(cutoffs) - 1), len(cutoffs) - 1)
    out = np.empty(n, dtype=np.int64)
    out[order] = idx_sorted
    return out


@dataclass(frozen=True)
class TierPolicy:
    """A frozen, versioned rule that maps a value score to tiers.

    Parameters
    ----------
    name, version : str
        Identify the policy; both are saved with every run.
    tiers : tuple of str
        Tier names from most to least valuable (without ``loss_tier``).
    cutoffs : tuple of float
        Cumulative shares at which each tier ends, strictly increasing, the last 1.0: shares
        of customers ranked by value (``kind="rank"``, and of the profitable customers for
        ``"rank_with_loss"``) or shares of total positive value (``"value_share"``).
    kind : {"rank", "value_share", "rank_with_loss"}
        How ``cutoffs`` are read (see the module docstring).
    loss_tier : str or None
        Name of the tier of customers with value < 0; required for ``"rank_with_loss"`` and
        only allowed there.

    Notes
    -----
    Ties in value are broken by the position of the customer in the input, so the result is
    deterministic; two customers with the same value may still fall on both sides of a cut.
    Tiers are monotone in value: a customer with a higher value is never in a lower tier.
    """

    name: str = "pyramid"
    version: str = "1"
    tiers: tuple[str, ...] = ("most_important", "key", "ordinary", "small")
    cutoffs: tuple[float, ...] = (0.01, 0.20, 0.50, 1.0)
    kind: PolicyKind = "rank"
    loss_tier: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", tuple(str(t) for t in self.tiers))
        object.__setattr__(self, "cutoffs", tuple(float(c) for c in self.cutoffs))
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if len(self.tiers) != len(self.cutoffs):
            raise ValueError("tiers and cutoffs must have the same length")
        c = np.asarray(self.cutoffs, dtype=float)
        if not (len(c) and np.all(np.diff(c) > 0) and c[0] > 0 and np.isclose(c[-1], 1.0)):
            raise ValueError(f"cutoffs must increase strictly and end at 1.0, got {self.cutoffs}")
        if (self.kind == "rank_with_loss") != (self.loss_tier is not None):
            raise ValueError("loss_tier is required for kind 'rank_with_loss' and only there")
        labels = self.labels
        if len(set(labels)) != len(labels) or not all(labels):
            raise ValueError(f"tier names must be unique and non-empty, got {labels}")

    @property
    def labels(self) -> tuple[str, ...]:
        """Every tier the policy can assign, from most to least valuable."""
        return self.tiers + ((self.loss_tier,) if self.loss_tier is not None else ())

    def levels(self, value: pd.Series | np.ndarray) -> np.ndarray:
        """Tier index of each value in :attr:`labels` (0 = most valuable).

        Parameters
        ----------
        value : array-like of float
            Value score per customer; NaN is rejected.

        Returns
        -------
        numpy.ndarray of int64
        """
        v = np.asarray(value, dtype=float).reshape(-1)
        if np.isnan(v).any():
            raise ValueError(f"value score has {int(np.isnan(v).sum())} NaN value(s)")
        cut = np.asarray(self.cutoffs)
        if self.kind == "rank":
            return _by_share(_rank_share(v), cut)
        if self.kind == "value_share":
            return _by_value_share(v, cut)
        loss = v < 0
        out = np.full(len(v), len(self.tiers), dtype=np.int64)
        out[~loss] = _by_share(_rank_share(v[~loss]), cut)
        return out

    def assign(self, value: pd.Series | np.ndarray) -> np.ndarray:
        """Return the tier name of each value (NaN values are rejected).

        Parameters
        ----------
        value : array-like of float
            Value score per customer, in input order.

        Returns
        -------
        numpy.ndarray of object
            One tier name per customer, from :attr:`labels`.
        """
        return np.asarray(self.labels, dtype=object)[self.levels(value)]

    def to_dict(self) -> dict[str, object]:
        """The policy as a plain dict (lists for tuples)."""
        d = asdict(self)
        d["tiers"], d["cutoffs"] = list(self.tiers), list(self.cutoffs)
        return d

    def to_json(self) -> str:
        """The policy as JSON (saved with every run)."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> TierPolicy:
        """Read a policy written by :meth:`to_dict`; missing fields take their defaults."""
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise ValueError(f"unknown tier policy field(s): {sorted(extra)}")
        kw = dict(d)
        for k in ("tiers", "cutoffs"):
            if k in kw:
                kw[k] = tuple(kw[k])  # type: ignore[arg-type]
        return cls(**kw)  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, text: str) -> TierPolicy:
        """Read a policy written by :meth:`to_json` (also the version-1 JSON, without kind)."""
        return cls.from_dict(json.loads(text))


def pyramid_policy(
    shares: tuple[float, ...] = (0.01, 0.19, 0.30, 0.50),
    tiers: tuple[str, ...] = ("most_important", "key", "ordinary", "small"),
    *,
    name: str = "pyramid",
    version: str = "1",
) -> TierPolicy:
    """A rank pyramid from the share of customers in each tier (they must sum to 1).

    Parameters
    ----------
    shares : tuple of float
        Share of customers in each tier, most valuable first.
    tiers : tuple of str
        Tier names, most valuable first.
    name, version : str
        Policy identity.

    Returns
    -------
    TierPolicy
    """
    return TierPolicy(name, version, tiers, _cumulative(shares), kind="rank")


def abc_policy(
    a: float = 0.80,
    b: float = 0.15,
    tiers: tuple[str, str, str] = ("A", "B", "C"),
    *,
    name: str = "abc",
    version: str = "1",
) -> TierPolicy:
    """ABC tiers by cumulative share of positive value (Pareto).

    Parameters
    ----------
    a : float
        Share of total positive value that tier A holds (the smallest set of top customers
        whose value reaches it).
    b : float
        Further share held by tier B; C is the rest (with every customer of value ≤ 0).
    tiers : tuple of three str
        Tier names.
    name, version : str
        Policy identity.

    Returns
    -------
    TierPolicy
    """
    return TierPolicy(name, version, tiers, _cumulative((a, b, 1.0 - a - b)), kind="value_share")


def customer_pyramid_policy(
    shares: tuple[float, ...] = (0.05, 0.15, 0.80),
    tiers: tuple[str, ...] = ("platinum", "gold", "iron"),
    loss_tier: str = "lead",
    *,
    name: str = "customer_pyramid",
    version: str = "1",
) -> TierPolicy:
    """The customer pyramid: ranks among profitable customers plus a loss-making tier.

    Parameters
    ----------
    shares : tuple of float
        Share of the customers with value ≥ 0 in each tier, most valuable first.
    tiers : tuple of str
        Names of the profitable tiers.
    loss_tier : str
        Name of the tier of customers with value < 0.
    name, version : str
        Policy identity.

    Returns
    -------
    TierPolicy
    """
    return TierPolicy(
        name, version, tiers, _cumulative(shares), kind="rank_with_loss", loss_tier=loss_tier
    )


def _cumulative(shares: tuple[float, ...]) -> tuple[float, ...]:
    s = np.asarray(shares, dtype=float)
    if (s <= 0).any() or not np.isclose(s.sum(), 1.0):
        raise ValueError(f"tier shares must be positive and sum to 1, got {shares}")
    c = np.cumsum(s)
    c[-1] = 1.0
    return tuple(float(round(x, 12)) for x in c)


DEFAULT_POLICY = TierPolicy()
"""The default tier policy used by the synthetic bank's ground truth (the rank pyramid)."""

ABC_POLICY = abc_policy()
"""ABC by cumulative positive value: A = top customers holding 80%, B the next 15%, C rest."""

CUSTOMER_PYRAMID = customer_pyramid_policy()
"""Platinum (top 5%), gold (next 15%), iron (rest) among profitable customers, plus lead."""

BUILTIN_POLICIES: dict[str, TierPolicy] = {
    p.name: p for p in (DEFAULT_POLICY, ABC_POLICY, CUSTOMER_PYRAMID)
}
"""The built-in policies by name."""
