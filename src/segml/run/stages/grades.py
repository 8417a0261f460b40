"""The grades step of ``segml run``: corporate grades by the scorecard, and the out-of-time
comparison with a learned model."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pandas as pd

from segml.data import BankData
from segml.dates import add_months, months_before
from segml.features.snapshots import Snapshots
from segml.grades import DEFAULT_SCORECARD, GRADES, compare_scorecard_model, grade_corporates
from segml.run.stages.base import StageResult

__all__ = ["GradesWarning", "grades_stage"]


class GradesWarning(UserWarning):
    """The grades stage left something out (the learned-model comparison) and says why."""


def grades_stage(
    bank: BankData | Snapshots,
    features: pd.DataFrame,
    as_of: dt.date,
    compare_model: bool,
    history_start: dt.date | None,
) -> StageResult:
    """Corporate grades by the default scorecard, and the out-of-time comparison with xgboost.

    The comparison trains on the two years before ``as_of`` and evaluates at ``as_of``; it
    runs only when ``compare_model`` is set and the history reaches back far enough. Given
    the run's :class:`~segml.features.snapshots.Snapshots`, its snapshots have the run's
    feature configuration.
    """
    res = StageResult()
    grades = grade_corporates(features, DEFAULT_SCORECARD)
    res.tables["grades"] = grades
    res.documents["scorecard.json"] = json.loads(DEFAULT_SCORECARD.to_json())
    shares = grades["grade"].astype(str).value_counts(normalize=True)
    res.metrics.update({f"grade_share.{g}": float(shares.get(g, 0.0)) for g, _ in GRADES})
    res.metrics["graded"] = float(len(grades))
    train = [months_before(as_of, m) for m in (24, 12)]
    if compare_model and history_start is not None and history_start <= add_months(train[0], -12):
        try:
            cmp = compare_scorecard_model(bank, train, as_of, DEFAULT_SCORECARD, n_boot=200)
        except ValueError as exc:  # e.g. no corporate defaults to learn from: no comparison
            res.documents["grading_comparison.json"] = {"skipped": str(exc)}
            warnings.warn(f"no scorecard-vs-model comparison: {exc}", GradesWarning, stacklevel=2)
            return res
        doc = cmp.to_dict()
        res.documents["grading_comparison.json"] = doc
        res.metrics.update(
            {k: float(v) for k, v in doc.items() if isinstance(v, int | float) and v is not None}
        )
    return res
