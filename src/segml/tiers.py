"""Value tiers (客户分级): a frozen, versioned policy that maps a value score to tiers.

This module holds the tier policy shared by the synthetic bank's ground truth and the
pipeline. The default is the bank's customer pyramid by value rank: the top 1% "most
important", the rest of the top 20% "key", the next 30% "ordinary" and the last 50% "small".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TierPolicy:
    """Tiers by value rank: ``cutoffs`` are the cumulative customer shares that end each tier.

    Parameters
    ----------
    name, version : str
        Identify the policy; both are saved with every run.
    tiers : tuple of str
        Tier names from most to least valuable.
    cutoffs : tuple of float
        Cumulative share of customers (ranked by value, highest first) at which each tier
        ends; the last must be 1.0.

    Notes
    -----
    Ties in value are broken by the position of the customer in the input, so the result is
    deterministic; two customers with the same value may still fall on both sides of a cut.
    """

    name: str = "pyramid"
    version: str = "1"
    tiers: tuple[str, ...] = ("most_important", "key", "ordinary", "small")
    cutoffs: tuple[float, ...] = (0.01, 0.20, 0.50, 1.0)

    def __post_init__(self) -> None:
        if len(self.tiers) != len(self.cutoffs):
            raise ValueError("tiers and cutoffs must have the same length")
        c = np.asarray(self.cutoffs, dtype=float)
        if not (np.all(np.diff(c) > 0) and c[0] > 0 and np.isclose(c[-1], 1.0)):
            raise ValueError(f"cutoffs must increase strictly and end at 1.0, got {self.cutoffs}")

    def assign(self, value: pd.Series | np.ndarray) -> np.ndarray:
        """Return the tier name of each value (NaN values are rejected)."""
        v = np.asarray(value, dtype=float)
        if np.isnan(v).any():
            raise ValueError(f"value score has {int(np.isnan(v).sum())} NaN value(s)")
        n = len(v)
        order = np.argsort(-v, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        share = (rank + 1) / max(n, 1)
        idx = np.searchsorted(np.asarray(self.cutoffs) + 1e-12, share, side="left")
        return np.asarray(self.tiers, dtype=object)[np.minimum(idx, len(self.tiers) - 1)]

    def to_json(self) -> str:
        """The policy as JSON (saved with every run)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TierPolicy:
        """Read a policy written by :meth:`to_json`."""
        d = json.loads(text)
        return cls(d["name"], d["version"], tuple(d["tiers"]), tuple(d["cutoffs"]))


DEFAULT_POLICY = TierPolicy()
