"""Service playbooks: how the bank serves each tier.

A :class:`Playbook` says whether a tier has a relationship manager, how often and through which
channel the bank contacts it, its pricing privileges, and the retention action to take when a
customer's churn risk is at or above the playbook's threshold. :data:`DEFAULT_PLAYBOOKS` holds
one for every tier of the built-in policies; a bank replaces them with its own (a mapping from
tier name to playbook, saved as JSON with :func:`playbooks_to_json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


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
        What to do when the customer's churn risk is high.
    high_churn_risk : float
        Churn probability at or above which the risk counts as high (0–1).
    """

    relationship_manager: bool
    contact_cadence: str
    channel: str
    pricing: str
    retention_action: str
    high_churn_risk: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.high_churn_risk <= 1.0:
            raise ValueError(f"high_churn_risk must be in [0, 1], got {self.high_churn_risk}")

    def to_dict(self) -> dict[str, Any]:
        """The playbook as a plain dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Playbook:
        """Read a playbook written by :meth:`to_dict`."""
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
    0.2,
)
_RM = Playbook(
    True,
    "monthly",
    "relationship manager and mobile app",
    "preferential rates, fee waivers",
    "relationship manager call within a week; tailored offer",
    0.3,
)
_MASS = Playbook(
    False,
    "quarterly",
    "mobile app and contact centre",
    "standard pricing, bundle discounts",
    "targeted digital offer",
    0.4,
)
_SELF = Playbook(
    False,
    "semi-annual",
    "digital self-service",
    "standard pricing",
    "automated win-back message",
    0.5,
)
_LOSS = Playbook(
    False,
    "as needed",
    "digital self-service",
    "cost-to-serve pricing review",
    "no proactive retention; review pricing and servicing cost",
    1.0,
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
