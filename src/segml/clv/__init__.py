"""Customer lifetime value: purchase and spend models, discounted CLV and its evaluation.

lifetimes estimates the BG/NBD, Pareto/NBD, MBG/NBD and Gamma-Gamma models behind
:mod:`segml.clv.adapter`; segml validates the inputs, retries failed fits with a penalizer,
predicts with overflow-free formulas (:mod:`segml.clv.formulas`) and discounts on explicit time
units (:mod:`segml.clv.value`). :func:`clv_holdout` runs the whole method on any transaction
log (``segml clv fit``); :func:`fit_clv` runs it on a bank's snapshots at an as-of date and
returns a :class:`ClvOutcome` (the CLV step of ``segml run`` calls it).
"""

from typing import TYPE_CHECKING

from segml.clv.evaluate import (
    PurchaseMetrics,
    ValueMetrics,
    decile_table,
    normalised_gini,
    purchase_metrics,
    value_metrics,
)
from segml.clv.holdout import CalibrationHoldout, calibration_holdout
from segml.clv.logcheck import ClvDataWarning, check_log
from segml.clv.model import ClvModel
from segml.clv.outcome import ClvOutcome, ClvSettings
from segml.clv.purchase import ClvConvergenceWarning, FitReport, PurchaseKind, PurchaseModel
from segml.clv.spend import (
    HeavyTailedSpendWarning,
    IndependenceCheck,
    SpendExclusions,
    SpendIndependenceWarning,
    SpendModel,
)
from segml.clv.value import TimeUnit, discounted_clv, period_rate
from segml.lazy import lazy_getattr

if TYPE_CHECKING:
    from segml.clv.api import ClvHoldoutResult, clv_holdout
    from segml.clv.comparison import SupervisedComparison, compare_supervised
    from segml.clv.fit import fit_clv
    from segml.clv.supervised import SupervisedCLV

#: Names imported on first use: they pull in xgboost and matplotlib (about a second).
_LAZY = {
    "ClvHoldoutResult": "segml.clv.api",
    "clv_holdout": "segml.clv.api",
    "SupervisedComparison": "segml.clv.comparison",
    "compare_supervised": "segml.clv.comparison",
    "SupervisedCLV": "segml.clv.supervised",
    "fit_clv": "segml.clv.fit",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "CalibrationHoldout",
    "ClvConvergenceWarning",
    "ClvDataWarning",
    "ClvHoldoutResult",
    "ClvModel",
    "ClvOutcome",
    "ClvSettings",
    "FitReport",
    "HeavyTailedSpendWarning",
    "IndependenceCheck",
    "PurchaseKind",
    "PurchaseMetrics",
    "PurchaseModel",
    "SpendExclusions",
    "SpendIndependenceWarning",
    "SpendModel",
    "SupervisedCLV",
    "SupervisedComparison",
    "TimeUnit",
    "ValueMetrics",
    "calibration_holdout",
    "check_log",
    "clv_holdout",
    "compare_supervised",
    "decile_table",
    "discounted_clv",
    "fit_clv",
    "normalised_gini",
    "period_rate",
    "purchase_metrics",
    "value_metrics",
]
