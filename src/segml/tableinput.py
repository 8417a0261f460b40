"""Array-likes as tables: scikit-learn's input conventions for segml's table models.

segml's models of a customer table (churn, supervised CLV, the value score) read named columns.
They take a pandas DataFrame and, as scikit-learn estimators do, any 2-D array-like too:

* an array (or a DataFrame whose column names are not text) becomes a table with columns
  ``x0 … x{n-1}`` (scikit-learn's convention); ``feature_names_in_`` is recorded only when
  ``fit`` gets a DataFrame with text column names, ``n_features_in_`` always;
* a DataFrame after a DataFrame is read by column name, as segml always has: extra columns are
  ignored, a missing one is the model's own error;
* anything else is read by position, as :func:`sklearn.utils.validation.validate_data` does:
  it must have ``n_features_in_`` columns, and mixing a named and an unnamed table warns;
* sparse matrices are refused (a :class:`TypeError` naming them), as are complex numbers, 1-D
  input, a table with no row or no column, and cells that are neither text nor numbers;
* missing values are data (the trees learn where they go): the models declare
  ``allow_nan`` in their scikit-learn tags.

A model used before ``fit`` raises :class:`ModelNotFittedError`, scikit-learn's
:class:`~sklearn.exceptions.NotFittedError` (a ``ValueError`` and an ``AttributeError``) that
is also the ``RuntimeError`` segml raised before.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.exceptions import NotFittedError

__all__ = ["ModelNotFittedError", "TableInput", "as_table", "check_fitted", "checked_array"]


class ModelNotFittedError(NotFittedError, RuntimeError):
    """A model used before ``fit`` (or ``load``): scikit-learn's error, and segml's former one."""


def check_fitted(model: Any, attribute: str, message: str) -> None:
    """Raise :class:`ModelNotFittedError` with ``message`` unless ``model`` has ``attribute``.

    Parameters
    ----------
    model : object
        The estimator.
    attribute : str
        A fitted attribute (set by ``fit`` and ``load``).
    message : str
        The error's text.

    Raises
    ------
    ModelNotFittedError
        When ``model`` lacks ``attribute``.
    """
    if not hasattr(model, attribute):
        raise ModelNotFittedError(message)


def _check_cells(values: np.ndarray, who: str) -> None:
    """Refuse cells of an object array that are neither text, numbers nor missing."""
    for (i, j), v in np.ndenumerate(values):
        if v is None or isinstance(v, str | bytes | numbers.Number | np.generic):
            continue
        raise TypeError(
            f"{who}: argument must be a string or a number, not {type(v).__name__!r} "
            f"(row {i}, column {j})"
        )


def checked_array(X: Any, who: str) -> np.ndarray:
    """A 2-D array-like as a NumPy array, checked as scikit-learn's ``check_array`` would.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Not a DataFrame (whose columns the models read by name).
    who : str
        The model, for messages.

    Returns
    -------
    ndarray
        ``np.asarray(X)``; an object array keeps its text.

    Raises
    ------
    TypeError
        Sparse input, or a cell that is neither text, a number nor None.
    ValueError
        Input that is not 2-D, complex numbers, no row or no column.
    """
    if sparse.issparse(X):
        raise TypeError(
            f"{who} takes a dense table, not a sparse {type(X).__name__}: pass a DataFrame "
            "or X.toarray()"
        )
    values = np.asarray(X)
    if values.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {values.ndim}D array instead: {who} takes a table (one "
            "row per customer). Reshape your data either using array.reshape(-1, 1) if your "
            "data has a single feature or array.reshape(1, -1) if it contains a single sample."
        )
    if np.iscomplexobj(values):
        raise ValueError(f"Complex data not supported: {who} takes real numbers or text")
    for axis, what in ((0, "sample"), (1, "feature")):
        if values.shape[axis] == 0:
            raise ValueError(
                f"Found array with 0 {what}(s) (shape={values.shape}) while a minimum of 1 "
                f"is required by {who}."
            )
    if values.dtype == object:
        _check_cells(values, who)
    return values


def _array_table(X: Any, who: str) -> pd.DataFrame:
    """A 2-D array-like as a table with columns ``x0 … x{n-1}``."""
    values = checked_array(X, who)
    frame = pd.DataFrame(values, columns=[f"x{j}" for j in range(values.shape[1])])
    return frame.infer_objects() if values.dtype == object else frame


def as_table(X: Any, who: str) -> tuple[pd.DataFrame, bool]:
    """``X`` as a DataFrame, and whether its columns are names (text).

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        The input.
    who : str
        The model, for messages.

    Returns
    -------
    (DataFrame, bool)
        A DataFrame with text column names is returned as it is (True); anything else as a
        new table with columns ``x0 … x{n-1}`` (False).

    Raises
    ------
    TypeError
        Sparse input, column names mixing text and other types, or a cell that is neither
        text nor a number.
    ValueError
        Input that is not 2-D, complex numbers, no row or no column.
    """
    if isinstance(X, pd.DataFrame):
        if all(isinstance(c, str) for c in X.columns):
            return X, True
        if any(isinstance(c, str) for c in X.columns):
            kinds = sorted({type(c).__name__ for c in X.columns})
            raise TypeError(
                "Feature names are only supported if all input features have string names, "
                f"but your input has {kinds} as feature name / column name types: convert "
                "them all to text with X.columns = X.columns.astype(str)"
            )
        return X.set_axis([f"x{j}" for j in range(X.shape[1])], axis=1), False
    return _array_table(X, who), False


class TableInput:
    """Mixin of a model of a customer table: array-likes in, scikit-learn's tags.

    ``_fit_table`` reads ``fit``'s input and records ``n_features_in_`` (and
    ``feature_names_in_`` for a DataFrame with text column names); ``_table`` reads the input
    of a prediction (see the module docstring).
    """

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: missing values (NaN) are data."""
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.allow_nan = True
        return tags

    def _fit_table(self, X: Any) -> pd.DataFrame:
        frame, named = as_table(X, type(self).__name__)
        self.n_features_in_ = frame.shape[1]
        if named:
            self.feature_names_in_ = np.asarray(list(frame.columns), dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return frame

    def _input_columns(self) -> list[str]:
        """The table's columns in ``fit``, in order."""
        if hasattr(self, "feature_names_in_"):
            return list(self.feature_names_in_)
        return [f"x{j}" for j in range(self.n_features_in_)]

    def _table(self, X: Any) -> pd.DataFrame:
        who = type(self).__name__
        frame, named = as_table(X, who)
        fitted_named = hasattr(self, "feature_names_in_")
        if named and (fitted_named or not hasattr(self, "n_features_in_")):
            return frame  # by column name (so is a model loaded without its input columns)
        if not hasattr(self, "n_features_in_"):
            raise ValueError(f"this {who} does not know the columns it was fitted on: pass a DataFrame")  # fmt: skip
        if named:
            warnings.warn(f"X has feature names, but {who} was fitted without feature names", UserWarning, stacklevel=3)  # fmt: skip
        elif fitted_named:
            warnings.warn(f"X does not have valid feature names, but {who} was fitted with feature names", UserWarning, stacklevel=3)  # fmt: skip
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} features, but {who} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return frame.set_axis(self._input_columns(), axis=1)
