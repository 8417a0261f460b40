"""Exact explanations of tiers: TreeSHAP contributions, reason codes against the typical
customer of the tier, thresholds, surrogates.

See docs/explain.md.
"""

from segml.boosters import treeshap_cost
from segml.explain.reference import ReasonReference, typical_customers
from segml.explain.result import (
    CHURN_OUTPUT,
    GRADE_OUTPUT,
    VALUE_OUTPUT,
    ModelExplanation,
    OutputSpec,
    concat,
)
from segml.explain.treeshap import (
    ADDITIVITY_TOLERANCE,
    AdditivityError,
    AdditivityReport,
    check_additivity,
    iter_contributions,
    tree_contributions,
)

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "CHURN_OUTPUT",
    "GRADE_OUTPUT",
    "VALUE_OUTPUT",
    "AdditivityError",
    "AdditivityReport",
    "ModelExplanation",
    "OutputSpec",
    "ReasonReference",
    "check_additivity",
    "concat",
    "iter_contributions",
    "tree_contributions",
    "treeshap_cost",
    "typical_customers",
]
