"""The explanation of one model's scores: a ``shap.Explanation`` plus what it explains.

:class:`ModelExplanation` wraps the :class:`shap.Explanation` (``values``, ``base_values``,
``data``, ``feature_names``, ``instance_names`` = customer ids, ``output_names``), so every shap
plot works on ``.explanation``, with the score it decomposes, the output's name and unit, and the
additivity report. :class:`OutputSpec` says what the output means ("annual value" in CNY/year,
"churn log-odds"), which reason codes quote.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segml.explain.treeshap import AdditivityReport

if TYPE_CHECKING:
    import shap

__all__ = [
    "CHURN_OUTPUT",
    "GRADE_OUTPUT",
    "VALUE_OUTPUT",
    "ModelExplanation",
    "OutputSpec",
    "concat",
]


@dataclass(frozen=True)
class OutputSpec:
    """What a model's output is.

    Attributes
    ----------
    name : str
        Column name of the score (``value_score``).
    label : str
        How reason codes name it ("annual value").
    unit : str
        A catalogue unit (``CNY/year``, ``log-odds``, ``points``) that sets number formatting.
    """

    name: str
    label: str
    unit: str


VALUE_OUTPUT = OutputSpec("value_score", "annual value", "CNY/year")
CHURN_OUTPUT = OutputSpec("churn_margin", "churn log-odds", "log-odds")
GRADE_OUTPUT = OutputSpec("score_total", "grade score", "points")


@dataclass
class ModelExplanation:
    """Exact additive explanation of one model's score for a set of customers.

    Attributes
    ----------
    values : ndarray
        Contributions, customers × features.
    base_values : ndarray
        Base value per customer (all equal, except per-segment bases of a surrogate).
    data : ndarray
        The feature values (categoricals as category codes).
    feature_names : list of str
    ids : ndarray
        Customer ids, in row order.
    score : ndarray
        The score explained, per customer: ``base_values + values.sum(axis=1)`` within the
        additivity tolerance.
    output : OutputSpec
    additivity : AdditivityReport

    ``explanation`` gives the same as a ``shap.Explanation`` (built on first use, so scoring
    never imports shap).
    """

    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray
    feature_names: list[str]
    ids: np.ndarray
    score: np.ndarray
    output: OutputSpec
    additivity: AdditivityReport

    @property
    def explanation(self) -> shap.Explanation:
        """A ``shap.Explanation``: values, base_values, data, feature_names, instance_names
        (customer ids) and output_names; every shap plot works on it."""
        import shap

        return shap.Explanation(
            values=self.values,
            base_values=self.base_values,
            data=self.data,
            feature_names=list(self.feature_names),
            instance_names=list(self.ids),
            output_names=self.output.label,
        )

    @property
    def base_value(self) -> float:
        """The expected score (the first customer's base value; the same for all but
        surrogates)."""
        return float(self.base_values[0]) if len(self.base_values) else float("nan")

    def __len__(self) -> int:
        return len(self.score)

    def frame(self, prefix: str = "") -> pd.DataFrame:
        """One row per customer: ``customer_id``, the score, ``base_value``, a column per feature."""
        out = pd.DataFrame(self.values, columns=[f"{prefix}{c}" for c in self.feature_names])
        out.insert(0, "base_value", self.base_value)
        out.insert(0, self.output.name, self.score)
        out.insert(0, "customer_id", self.ids)
        return out

    def write_parquet(self, path: str | os.PathLike[str], rows_per_group: int = 100_000) -> int:
        """Write :meth:`frame` to Parquet a row group at a time, without building it.

        Only one group's columns are copied at a time (``frame()`` of a million customers
        would hold another copy of every contribution). Returns the rows written.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = ["customer_id", self.output.name, "base_value", *self.feature_names]
        ids = pd.Series(self.ids)
        writer = None
        try:
            for start in range(0, max(len(self), 1), rows_per_group):
                end = min(start + rows_per_group, len(self))
                cols = [
                    pa.array(ids.iloc[start:end], from_pandas=True),
                    pa.array(self.score[start:end], type=pa.float64()),
                    pa.array(np.full(end - start, self.base_value), type=pa.float64()),
                    *(pa.array(np.ascontiguousarray(self.values[start:end, j]), type=pa.float64())
                      for j in range(self.values.shape[1])),
                ]  # fmt: skip
                table = pa.Table.from_arrays(cols, names=names)
                if writer is None:
                    writer = pq.ParquetWriter(str(path), table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        return len(self)

    def mean_abs(self) -> pd.Series:
        """Mean |contribution| per feature, largest first (global importance)."""
        v = pd.Series(np.abs(self.values).mean(axis=0), index=self.feature_names)
        return v.sort_values(ascending=False, kind="stable")

    def customer(self, customer_id: Any) -> dict[str, Any]:
        """One customer's score, base value and contributions as plain values."""
        hit = np.flatnonzero(self.ids.astype(str) == str(customer_id))
        if not len(hit):
            raise KeyError(f"customer {customer_id!r} is not in this explanation")
        i = int(hit[0])
        return {
            "score": float(self.score[i]),
            "base_value": self.base_value,
            "contributions": dict(zip(self.feature_names, map(float, self.values[i]), strict=True)),
        }


def numeric_data(frame: pd.DataFrame) -> np.ndarray:
    """Feature values as floats for ``shap.Explanation.data``: categoricals as their codes."""
    cols = []
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy(dtype=float)
            cols.append(np.where(codes < 0, np.nan, codes))
        else:
            cols.append(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float))
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0))


def build(
    values: np.ndarray,
    base_value: float,
    score: np.ndarray,
    data: np.ndarray,
    feature_names: list[str],
    ids: np.ndarray,
    output: OutputSpec,
    additivity: AdditivityReport,
) -> ModelExplanation:
    """Assemble a :class:`ModelExplanation` (internal helper of the explainers)."""
    return ModelExplanation(
        values=np.asarray(values, dtype=float),
        base_values=np.full(len(values), float(base_value)),
        data=np.asarray(data, dtype=float),
        feature_names=list(feature_names),
        ids=np.asarray(ids),
        score=np.asarray(score, dtype=float),
        output=output,
        additivity=additivity,
    )


def concat(parts: Iterable[ModelExplanation], rows: int | None = None) -> ModelExplanation:
    """One explanation from batches of the same model (same features and base value).

    Given ``rows`` (their total), the batches are copied into arrays of that size as they
    arrive and each is dropped once copied, so an explanation made batch by batch never
    exists twice (at 1M customers × 100 features, values and data are ~1.6 GB).

    Examples
    --------
    >>> rep = AdditivityReport(1, 0.0, 1.0, 1e-5, True)
    >>> one = build(np.ones((1, 2)), 0.5, np.array([2.5]), np.zeros((1, 2)), ["a", "b"],
    ...             np.array(["c1"]), VALUE_OUTPUT, rep)
    >>> both = concat(iter([one, one]), rows=2)
    >>> both.values.shape, both.score.tolist(), both.additivity.rows
    ((2, 2), [2.5, 2.5], 2)
    """
    batches = iter(parts)
    first = next(batches, None)
    if first is None:
        raise ValueError("no rows to explain")
    if rows is None:
        rest = list(batches)
        if not rest:
            return first
        return _stacked([first, *rest])
    width, dwidth = first.values.shape[1], first.data.shape[1]
    values, data = np.empty((rows, width)), np.empty((rows, dwidth))
    score, ids = np.empty(rows), []
    base, out, names, rep, at = first.base_value, first.output, first.feature_names, None, 0
    part: ModelExplanation | None = first
    while part is not None:
        end = at + len(part)
        if end > rows:
            raise ValueError(f"the batches hold more than the {rows:,} rows announced")
        values[at:end], data[at:end], score[at:end] = part.values, part.data, part.score
        ids.append(part.ids)
        rep = part.additivity if rep is None else rep.merge(part.additivity)
        at, part = end, next(batches, None)  # the copied batch is dropped here
    if at != rows:
        raise ValueError(f"the batches hold {at:,} rows, not the {rows:,} announced")
    assert rep is not None
    return build(values, base, score, data, names, np.concatenate(ids), out, rep)


def _stacked(parts: list[ModelExplanation]) -> ModelExplanation:
    rep = parts[0].additivity
    for p in parts[1:]:
        rep = rep.merge(p.additivity)
    first = parts[0]
    return build(
        np.vstack([p.values for p in parts]),
        first.base_value,
        np.concatenate([p.score for p in parts]),
        np.vstack([p.data for p in parts]),
        first.feature_names,
        np.concatenate([p.ids for p in parts]),
        first.output,
        rep,
    )
