"""The value score model: next year's profit per customer, learnt out of time from the bank's own
history (monotone in the accounting lines), and its size chosen by validation.

:class:`ValueScoreModel` is a scikit-learn regressor; :func:`select_value_model` fits one
candidate per depth and keeps the cheapest to explain within a tolerance of the best. The
explanations of its scores live in :mod:`segml.explain`.
"""

from segml.value.model import ACCOUNTING_LINES, DEFAULT_MONOTONE, ValueScoreModel
from segml.value.selection import DEFAULT_DEPTHS, ValueSelection, select_value_model, value_metrics

__all__ = [
    "ACCOUNTING_LINES",
    "DEFAULT_DEPTHS",
    "DEFAULT_MONOTONE",
    "ValueScoreModel",
    "ValueSelection",
    "select_value_model",
    "value_metrics",
]
