"""Corporate client grading (对公客户分级): a documented scorecard and a learned alternative.

:func:`grade_corporates` grades each corporate client on four dimensions — credit standing,
financial condition, scale and industry, relationship — with a frozen, versioned
:class:`Scorecard` (default :data:`DEFAULT_SCORECARD`). :func:`compare_scorecard_model` fits
xgboost on the same inputs to a credit-event target (:func:`credit_target`) and compares the
two out of time. See ``docs/grades.md``.
"""

from segml.grades.comparison import GradingComparison, compare_scorecard_model
from segml.grades.learned import (
    DEFAULT_MODEL_PARAMS,
    CreditModel,
    credit_target,
    fit_credit_model,
    model_matrix,
    roc_auc,
)
from segml.grades.scorecard import (
    DEFAULT_SCORECARD,
    GRADES,
    INDUSTRY_RISK,
    RATING_POINTS,
    RISK_LEVEL_POINTS,
    Dimension,
    Factor,
    Scorecard,
)
from segml.grades.scoring import corporate_rows, grade_corporates

__all__ = [
    "DEFAULT_MODEL_PARAMS",
    "DEFAULT_SCORECARD",
    "GRADES",
    "INDUSTRY_RISK",
    "RATING_POINTS",
    "RISK_LEVEL_POINTS",
    "CreditModel",
    "Dimension",
    "Factor",
    "GradingComparison",
    "Scorecard",
    "compare_scorecard_model",
    "corporate_rows",
    "credit_target",
    "fit_credit_model",
    "grade_corporates",
    "model_matrix",
    "roc_auc",
]
