"""Churn models that work on any customer table: the model, its encoder, calibration and metrics.

:class:`ChurnModel` is an xgboost classifier with early stopping and calibration on held-out
validation rows (:mod:`segml.churn.calibration`) over any columns (:class:`TabularEncoder`);
:func:`train_table` cross-validates it on a table (``segml churn train``, :mod:`segml.cli.churn`);
:func:`fit_churn` trains it out of time on the bank's own history, tests it at the as-of date
next to the BG/NBD P(alive) baseline, scores the customers and returns a :class:`ChurnOutcome`
(the churn step of ``segml run`` calls it, with :class:`ChurnSettings` from the run's config);
:mod:`segml.churn.metrics` holds the validator's metrics and :mod:`segml.churn.evaluate` the
comparison with the synthetic bank's true churn probabilities. See ``docs/churn.md``.
"""

from typing import TYPE_CHECKING

from segml.churn.baseline import PAliveBaseline, p_alive_baseline
from segml.churn.calibration import CALIBRATION_METHODS, Calibrator, fit_calibrator
from segml.churn.crossval import TableTrainResult, fit_table_model, train_table
from segml.churn.metrics import (
    calibration_table,
    classification_metrics,
    expected_calibration_error,
    lift_capture,
    risk_deciles,
)
from segml.churn.model import ChurnModel
from segml.churn.outcome import ChurnOutcome, ChurnSettings
from segml.churn.search import SEARCH_SPACE, candidate_params, fit_best
from segml.churn.tabular import TabularEncoder, binary_target
from segml.lazy import lazy_getattr

if TYPE_CHECKING:
    from segml.churn.fit import fit_churn

#: Names imported on first use: the fit pulls in the feature snapshots and matplotlib.
_LAZY = {"fit_churn": "segml.churn.fit"}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "CALIBRATION_METHODS",
    "SEARCH_SPACE",
    "Calibrator",
    "ChurnModel",
    "ChurnOutcome",
    "ChurnSettings",
    "PAliveBaseline",
    "TableTrainResult",
    "TabularEncoder",
    "binary_target",
    "calibration_table",
    "candidate_params",
    "classification_metrics",
    "expected_calibration_error",
    "fit_best",
    "fit_calibrator",
    "fit_churn",
    "fit_table_model",
    "lift_capture",
    "p_alive_baseline",
    "risk_deciles",
    "train_table",
]
