"""Exact explanations of tiers: TreeSHAP contributions, reason codes, thresholds, surrogates.

See docs/explain.md.
"""

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
    treeshap_cost,
)
from segml.explain.value_model import ACCOUNTING_LINES, DEFAULT_MONOTONE, ValueScoreModel

__all__ = [
    "ACCOUNTING_LINES",
    "ADDITIVITY_TOLERANCE",
    "CHURN_OUTPUT",
    "DEFAULT_MONOTONE",
    "GRADE_OUTPUT",
    "VALUE_OUTPUT",
    "AdditivityError",
    "AdditivityReport",
    "ModelExplanation",
    "OutputSpec",
    "ValueScoreModel",
    "check_additivity",
    "concat",
    "iter_contributions",
    "tree_contributions",
    "treeshap_cost",
]
