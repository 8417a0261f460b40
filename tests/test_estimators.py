"""scikit-learn's estimator checks over every estimator segml exposes.

``parametrize_with_checks`` runs each check as its own test. Where a check cannot apply the
estimator lists it in :data:`EXPECTED_FAILURES` with the reason, so the checks that do apply
still run, and a newly failing check is a test failure.

The models of a customer table (:class:`~segml.churn.model.ChurnModel`,
:class:`~segml.churn.tabular.TabularEncoder`, :class:`~segml.clv.supervised.SupervisedCLV`,
:class:`~segml.value.model.ValueScoreModel`) take a DataFrame, read by column name, or any 2-D
array-like, read by position with columns ``x0 … x{n-1}`` (:mod:`segml.tableinput`); missing
values are data to them (xgboost learns where NaN goes: the ``allow_nan`` tag), sparse input is
refused with a ``TypeError``, and a model used before ``fit`` raises ``NotFittedError``. What
they still fail is what they deliberately do otherwise: the churn labels are 0/1, the CLV trees
need 20 rows, the encoder returns a DataFrame.

* :class:`~segml.clv.model.ClvModel` reads the RFM columns by name (``fit(rfm)``), and the CLV
  fitters (:class:`~segml.clv.purchase.PurchaseModel`, :class:`~segml.clv.spend.SpendModel`)
  follow the ``lifetimes`` convention (``fit(frequency, recency, T)``,
  ``fit(frequency, monetary_value)``), not ``fit(X, y)``;
* :class:`~segml.segments.preprocess.CustomerPreprocessor` writes its own message for a
  one-row table.

The clusterers (:class:`~segml.segments.cluster.AutoKCluster`,
:class:`~segml.segments.mixture.MixedMixture`) pass every check.
"""

from __future__ import annotations

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

from segml.churn.model import ChurnModel
from segml.churn.tabular import TabularEncoder
from segml.clv.model import ClvModel
from segml.clv.purchase import PurchaseModel
from segml.clv.spend import SpendModel
from segml.clv.supervised import SupervisedCLV
from segml.segments.cluster import AutoKCluster
from segml.segments.mixture import MixedMixture
from segml.segments.preprocess import CustomerPreprocessor
from segml.value.model import ValueScoreModel

pytestmark = [
    pytest.mark.slow,  # about 50 s of CPU (AutoKCluster and xgboost fits)
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]

ESTIMATORS = [
    AutoKCluster("mixed", k=3, n_bootstrap=2, n_init=1),
    MixedMixture(3, n_init=1),
    CustomerPreprocessor(),
    TabularEncoder(),
    ChurnModel(n_estimators=5),
    SupervisedCLV(objective="squarederror", n_estimators=5),
    ValueScoreModel(baseline={}, n_estimators=5),
    ClvModel(),
    PurchaseModel(),
    SpendModel(),
]

_FEW_ROWS = "needs at least 20 training rows (early stopping holds some out); the check fits fewer"
_LABELS = (
    "labels are 0/1 (1 = churn), as on a DataFrame: other labels are refused with segml's message"
)
_RFM = (
    "reads the RFM columns by name (frequency, recency, T, monetary_value): fit(rfm), not fit(X, y)"
)
_FIT_SIGNATURE = "lifetimes-style fit(frequency, recency[, T]) / fit(frequency, monetary_value), not fit(X, y)"  # fmt: skip

#: The checks that call ``fit(X, y)`` on a bare array: the lifetimes-style CLV fitters take
#: RFM columns by name, or ``fit(frequency, recency, T)``.
_NOT_FIT_X_Y = (
    "check_complex_data",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_dtypes",
    "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_estimators_unfitted",
    "check_f_contiguous_array_estimator",
    "check_fit1d",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)

#: Checks each estimator is expected to fail, and why (see the module docstring).
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "TabularEncoder": {
        "check_transformer_preserve_dtypes": "returns a DataFrame (numbers and xgboost categoricals), not an array of the input's dtype",  # fmt: skip
    },
    "CustomerPreprocessor": {
        "check_fit2d_1sample": "its own message for one row ('need at least 2 rows to fit, got 1')",  # fmt: skip
    },
    "ChurnModel": {
        "check_classifier_data_not_an_array": _LABELS,
        "check_classifier_not_supporting_multiclass": "a multiclass y is refused as not 0/1 ('y must be 0/1, found [2.0]'), not with scikit-learn's wording",  # fmt: skip
        "check_classifiers_classes": _LABELS,
        "check_classifiers_regression_target": _LABELS,
        "check_estimators_dtypes": _LABELS,
        "check_fit2d_1feature": _LABELS,
        "check_requires_y_none": "y=None is refused as not 1-D ('y must be 1-D, got shape ()')",
        "check_supervised_y_2d": "a column-vector y is refused ('y must be 1-D'), not raveled with a warning",  # fmt: skip
    },
    "SupervisedCLV": {
        "check_fit2d_1feature": _FEW_ROWS,
        "check_fit2d_1sample": _FEW_ROWS,
        "check_n_features_in_after_fitting": _FEW_ROWS,
    },
    "ValueScoreModel": {
        "check_fit2d_1feature": _FEW_ROWS,
        "check_fit2d_1sample": _FEW_ROWS,
        "check_n_features_in_after_fitting": _FEW_ROWS,
    },
    "ClvModel": dict.fromkeys(_NOT_FIT_X_Y, _RFM),
    "PurchaseModel": dict.fromkeys(_NOT_FIT_X_Y, _FIT_SIGNATURE),
    "SpendModel": dict.fromkeys(  # its unfitted predict raises scikit-learn's NotFittedError
        (c for c in _NOT_FIT_X_Y if c != "check_estimators_unfitted"), _FIT_SIGNATURE
    ),
}


def _expected_failed_checks(estimator: BaseEstimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator: BaseEstimator, check) -> None:
    check(estimator)
