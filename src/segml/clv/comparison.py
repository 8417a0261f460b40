"""Out-of-time comparison of supervised CLV models with the probabilistic one, on one holdout.

:func:`compare_supervised` trains one :class:`~segml.clv.supervised.SupervisedCLV` per objective
on (features at ``t − h``, value of ``(t − h, t]``), predicts from the features at ``t`` and
scores each prediction of ``(t, t + h]`` with :func:`~segml.clv.evaluate.value_metrics` — the
same metrics, customers and actuals as the probabilistic model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segml.clv.evaluate import ValueMetrics, value_metrics
from segml.clv.supervised import SupervisedCLV
from segml.stability import seed_stability

__all__ = ["SupervisedComparison", "compare_supervised"]


@dataclass(frozen=True)
class SupervisedComparison:
    """Holdout metrics of supervised models (one per objective) and of reference predictions.

    Attributes
    ----------
    target : str
        What was predicted (e.g. ``holdout_spend``).
    train_as_of, predict_as_of : date
        Feature dates of training and prediction (``t − h`` and ``t``).
    n_train : int
        Training customers.
    primary : str
        The objective whose predictions are reported per customer.
    models : dict of str to SupervisedCLV
        Fitted model per objective.
    metrics : dict of str to ValueMetrics
        Holdout metrics per objective and per reference (``probabilistic``, naive baselines);
        empty when the holdout was not given.
    predictions : dict of str to ndarray
        Holdout predictions per objective, aligned with the evaluated customers.
    stability : dict of str to dict
        How the primary model's predictions move when it is refitted with another seed
        (:func:`segml.stability.seed_stability`), keyed by its objective; empty when not
        checked.
    """

    target: str
    train_as_of: dt.date
    predict_as_of: dt.date
    n_train: int
    primary: str
    models: dict[str, SupervisedCLV]
    metrics: dict[str, ValueMetrics]
    predictions: dict[str, np.ndarray]
    skipped: dict[str, str] = field(default_factory=dict)
    stability: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (metrics without the decile rows, rounds per model)."""
        return {
            "target": self.target,
            "train_as_of": str(self.train_as_of),
            "predict_as_of": str(self.predict_as_of),
            "n_train": self.n_train,
            "primary": self.primary,
            "rounds": {k: m.n_rounds_ for k, m in self.models.items()},
            "metrics": {k: v.scalars() for k, v in self.metrics.items()},
            "deciles": {k: list(v.deciles) for k, v in self.metrics.items()},
            "skipped": dict(self.skipped),
            "stability": dict(self.stability),
        }

    def flat_metrics(self, prefix: str) -> dict[str, float]:
        """``{prefix}.{model}.{metric}`` → value, for metric logs."""
        return {
            f"{prefix}.{name}.{k}": v
            for name, m in self.metrics.items()
            for k, v in m.scalars().items()
        }


def compare_supervised(
    train_X: pd.DataFrame,
    train_y: Any,
    test_X: pd.DataFrame,
    test_y: Any | None,
    *,
    target: str,
    train_as_of: dt.date,
    predict_as_of: dt.date,
    objectives: Sequence[str] = ("tweedie", "hurdle"),
    references: dict[str, Any] | None = None,
    baseline: str | None = None,
    seed: int = 0,
    stability_seed: int | None = None,
) -> SupervisedComparison:
    """Fit one supervised model per objective and score all on the holdout.

    Parameters
    ----------
    train_X, train_y : DataFrame, array-like
        Features at ``train_as_of`` and the value of the following window (ending at
        ``predict_as_of``).
    test_X, test_y : DataFrame, array-like or None
        Features at ``predict_as_of`` and the holdout value (used only for scoring; None when
        the holdout is not observed yet: predictions without metrics).
    target : str
        Name of the value, for the record.
    objectives : sequence of str
        :class:`SupervisedCLV` objectives; the first is ``primary``.
    references : dict, optional
        Other holdout predictions to score alongside (``{"probabilistic": …}``); NaN values
        (undefined expectations) are left out of their metrics and counted (``left_out``).
    baseline : str, optional
        See :class:`SupervisedCLV`.
    seed : int
        Seed of every model.
    stability_seed : int, optional
        Refit the primary model (the first objective: the one whose predictions are used)
        with this seed too and record how its predictions move
        (:func:`segml.stability.seed_stability`, ``stability``): a model whose total or
        ranking depends on the seed is not one to rely on. The alternatives are compared, not
        used, so their refit would cost time and decide nothing.
    """
    if not objectives:
        raise ValueError("at least one objective is needed")
    y_test = None if test_y is None else np.asarray(test_y, dtype=float)
    models, metrics, preds, skipped, stability = {}, {}, {}, {}, {}
    encoded: list[tuple[SupervisedCLV, Any]] = []  # the test table encoded once (~2 s at 1M)

    def predict(model: SupervisedCLV) -> np.ndarray:
        if not encoded or not model.same_encoding(encoded[0][0]):
            encoded[:] = [(model, model.dmatrix(model._table(test_X)))]
        return model.predict(test_X, dmatrix=encoded[0][1])

    for obj in objectives:
        try:
            model = SupervisedCLV(obj, baseline=baseline, seed=seed).fit(train_X, train_y)
        except ValueError as exc:
            if obj == objectives[0]:
                raise
            skipped[obj] = str(exc)  # an alternative objective the data cannot support
            continue
        pred = predict(model)
        models[obj], preds[obj] = model, pred
        if stability_seed is not None and obj == objectives[0]:
            again = SupervisedCLV(obj, baseline=baseline, seed=stability_seed).fit(train_X, train_y)
            stability[obj] = seed_stability(pred, predict(again))
        if y_test is not None:
            metrics[obj] = value_metrics(y_test, pred)
    for name, pred in (references or {}).items() if y_test is not None else ():
        # a reference may hold undefined values (Gamma-Gamma with q <= 1): scored without them,
        # their number in ``left_out``
        metrics[name] = value_metrics(y_test, np.asarray(pred, dtype=float), leave_out_undefined=True)  # fmt: skip
    return SupervisedComparison(
        target=target,
        train_as_of=train_as_of,
        predict_as_of=predict_as_of,
        n_train=len(train_X),
        primary=objectives[0],
        models=models,
        metrics=metrics,
        predictions=preds,
        skipped=skipped,
        stability=stability,
    )
