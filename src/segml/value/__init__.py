"""The value score model: next year's profit per customer, learnt out of time from the bank's own
history (monotone in the accounting lines), and its size chosen by validation.

:class:`ValueScoreModel` is a scikit-learn regressor; :func:`select_value_model` fits one
candidate per depth and keeps the cheapest to explain within a tolerance of the best;
:func:`fit_value` trains it out of time on a bank's snapshots, scores the customers active at
the as-of date and returns a :class:`ValueOutcome` (the value step of ``segml run`` calls it,
with :class:`ValueSettings` from the run's config). The explanations of its scores live in
:mod:`segml.explain`.
"""

from typing import TYPE_CHECKING

from segml.lazy import lazy_getattr
from segml.value.model import ACCOUNTING_LINES, DEFAULT_MONOTONE, ValueScoreModel
from segml.value.outcome import ValueOutcome, ValueSettings
from segml.value.selection import DEFAULT_DEPTHS, ValueSelection, select_value_model, value_metrics

if TYPE_CHECKING:
    from segml.value.fit import fit_value

#: Names imported on first use: the fit pulls in the feature snapshots.
_LAZY = {"fit_value": "segml.value.fit"}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "ACCOUNTING_LINES",
    "DEFAULT_DEPTHS",
    "DEFAULT_MONOTONE",
    "ValueOutcome",
    "ValueScoreModel",
    "ValueSelection",
    "ValueSettings",
    "fit_value",
    "select_value_model",
    "value_metrics",
]
