"""Service playbooks: how the bank serves each tier.

A :class:`Playbook` says whether a tier has a relationship manager, how often and through which
channel the bank contacts it, its pricing privileges, and the retention action and who gets it.

Who gets the retention action (:mod:`segml.tiers.retention`) is, by default, a **capacity**: the
share of the tier's customers the bank can work in a period goes to those with the highest
expected loss, ``P(churn) × max(value, 0)``, among those whose churn probability is above the
portfolio's mean predicted probability. The expected-loss cut this yields per tier is computed on
the run's customers (:func:`~segml.tiers.retention.calibrate_retention`) and recorded in the
playbook (``retention_min_churn``, ``retention_loss_cut``), so that scoring a customer later
applies the run's rule unchanged. A bank that wants a fixed probability threshold sets
``high_churn_risk`` without a capacity (the rule of playbooks saved before capacities existed);
with a capacity, ``high_churn_risk`` is an extra probability floor.

:data:`DEFAULT_PLAYBOOKS` holds one for every tier of the built-in policies; a bank replaces them
with its own (a mapping from tier name to playbook, saved as JSON with :func:`playbooks_to_json`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


def _check_share(name: str, v: float | None) -> None:
    if v is not None and not (isinstance(v, int | float) and 0.0 <= v <= 1.0):
        raise ValueError(f"{name} must be None or in [0, 1], got {v!r}")


@dataclass(frozen=True)
class Playbook:
    """The service a tier receives.

    Parameters
    ----------
    relationship_manager : bool
        Whether the customer has a named relationship manager.
    contact_cadence : str
        How often the bank reaches out (e.g. ``"monthly"``).
    channel : str
        Main service channel.
    pricing : str
        Pricing privileges.
    retention_action : str
        What to do for a customer flagged for retention.
    high_churn_risk : float, optional
        Churn probability (0–1). Without ``retention_capacity``: the fixed threshold at or above
        which a customer is flagged. With it: an extra floor (flagged only at or above it).
        None: no fixed threshold.
    retention_capacity : float, optional
        Share of the tier's customers (0–1) the bank can work in a period: at most
        ``floor(capacity × customers)`` are flagged, those with the highest expected loss.
        None: no capacity rule (``high_churn_risk`` alone decides; neither: nobody is flagged).
    retention_min_churn : float, optional
        Set by calibration: the portfolio's mean predicted churn probability; only customers
        above it are flagged.
    retention_loss_cut : float, optional
        Set by calibration: the expected loss at or above which a customer is flagged (halfway
        between the last customer in and the first one out). None once calibrated: nobody.
    """

    relationship_manager: bool
    contact_cadence: str
    channel: str
    pricing: str
    retention_action: str
    high_churn_risk: float | None = None
    retention_capacity: float | None = None
    retention_min_churn: float | None = None
    retention_loss_cut: float | None = None

    def __post_init__(self) -> None:
        _check_share("high_churn_risk", self.high_churn_risk)
        _check_share("retention_capacity", self.retention_capacity)
        _check_share("retention_min_churn", self.retention_min_churn)
        cut = self.retention_loss_cut
        if cut is not None and not (isinstance(cut, int | float) and math.isfinite(cut) and cut >= 0):  # fmt: skip
            raise ValueError(f"retention_loss_cut must be None or a finite number ≥ 0, got {cut!r}")
        if self.retention_capacity is None and self.calibrated:
            raise ValueError("retention_min_churn/retention_loss_cut need a retention_capacity")
        if cut is not None and self.retention_min_churn is None:
            raise ValueError(
                "retention_loss_cut needs retention_min_churn (set both by calibration)"
            )

    @property
    def calibrated(self) -> bool:
        """Whether the capacity rule's numbers were computed on a population."""
        return self.retention_min_churn is not None or self.retention_loss_cut is not None

    def to_dict(self) -> dict[str, Any]:
        """The playbook as a plain dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Playbook:
        """Read a playbook written by :meth:`to_dict` (fields it lacks take their defaults)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


#: Playbook fields shown per customer and per tier, in order.
PLAYBOOK_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Playbook))

_RM_TOP = Playbook(
    True,
    "weekly",
    "dedicated relationship manager, priority line",
    "best rates and fee waivers (senior approval)",
    "senior banker visit within 48 hours; bespoke retention offer",
    retention_capacity=0.20,
)
_RM = Playbook(
    True,
    "monthly",
    "relationship manager and mobile app",
    "preferential rates, fee waivers",
    "relationship manager call within a week; tailored offer",
    retention_capacity=0.20,
)
_MASS = Playbook(
    False,
    "quarterly",
    "mobile app and contact centre",
    "standard pricing, bundle discounts",
    "targeted digital offer",
    retention_capacity=0.10,
)
_SELF = Playbook(
    False,
    "semi-annual",
    "digital self-service",
    "standard pricing",
    "automated win-back message",
    retention_capacity=0.05,
)
_LOSS = Playbook(
    False,
    "as needed",
    "digital self-service",
    "cost-to-serve pricing review",
    "no proactive retention; review pricing and servicing cost",
    retention_capacity=0.0,
)

DEFAULT_PLAYBOOKS: dict[str, Playbook] = {
    "most_important": _RM_TOP,
    "key": _RM,
    "ordinary": _MASS,
    "small": _SELF,
    "A": _RM,
    "B": _MASS,
    "C": _SELF,
    "platinum": _RM_TOP,
    "gold": _RM,
    "iron": _MASS,
    "lead": _LOSS,
}
"""Default playbooks for every tier of the built-in policies."""


def playbooks_to_json(playbooks: Mapping[str, Playbook]) -> str:
    """Playbooks by tier as JSON."""
    return json.dumps(
        {t: p.to_dict() for t, p in playbooks.items()}, sort_keys=True, ensure_ascii=False
    )


def playbooks_from_json(text: str) -> dict[str, Playbook]:
    """Read playbooks written by :func:`playbooks_to_json`."""
    return {t: Playbook.from_dict(d) for t, d in json.loads(text).items()}
