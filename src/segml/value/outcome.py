"""What the value score method made for one bank at one date: :class:`ValueSettings` in,
:class:`ValueOutcome` out.

:func:`segml.value.fit.fit_value` returns a :class:`ValueOutcome` held in memory; a finished
run's value step reads back as the same class (:func:`segml.open_run`). Its tables and
documents are those the run writes: ``value_scores`` (per active customer),
``value_model.json`` (the whole fitted model), ``value_selection.json`` and
``value_metrics.json``.

Examples
--------
>>> ValueSettings(depths=(2, 3), max_cost=None).params()["n_estimators"]
300
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from segml.outcome import Outcome
from segml.value.model import ValueScoreModel
from segml.value.selection import DEFAULT_DEPTHS, DEFAULT_MAX_COST

__all__ = ["ValueOutcome", "ValueSettings"]


@dataclass(frozen=True)
class ValueSettings:
    """How :func:`~segml.value.fit.fit_value` chooses and fits the value score model.

    Parameters
    ----------
    horizon_months : int
        Must be 12: the score is next year's profit.
    seed : int
        Seeds the training sample, the selection and the model.
    max_train_rows : int, optional
        Selection and fit use a seeded sample of this many training customers when there are
        more (None: all).
    baseline : {"accounting", "none"}
        Start from current profit's accounting lines, or not.
    objective : {"absoluteerror", "squarederror"}
        The trees' loss.
    depths : tuple of int
        Tree depths tried on validation.
    tolerance : float
        The cheapest depth whose validation MAE is within this share of the best is chosen.
    max_cost : float, optional
        Explanation budget: the TreeSHAP cost proxy (Σ leaves × depth²) a model may have
        (None: none).
    max_trees : int
        Most trees (early stopping picks fewer).
    learning_rate : float
    monotone : dict, optional
        Monotone constraints by column (None: more balance never lowers value).
    device : {"cpu", "cuda"}, optional
        Device of the value model (None: segml's default).
    stability_check : bool
        Fit the chosen model again with ``seed + 1`` and record how far the value scores move
        (metrics ``stability.total_change``, ``stability.spearman``:
        :func:`segml.stability.seed_stability`; ``stability.tier_agreement``: the share of
        customers the policy puts in the same tier by both fits).
    """

    horizon_months: int = 12
    seed: int = 42
    max_train_rows: int | None = None
    baseline: Literal["accounting", "none"] = "accounting"
    objective: Literal["absoluteerror", "squarederror"] = "absoluteerror"
    depths: tuple[int, ...] = DEFAULT_DEPTHS
    tolerance: float = 0.01
    max_cost: float | None = DEFAULT_MAX_COST
    max_trees: int = 300
    learning_rate: float = 0.1
    monotone: dict[str, int] | None = None
    device: Literal["cpu", "cuda"] | None = None
    stability_check: bool = True

    def params(self) -> dict[str, object]:
        """The :class:`~segml.value.model.ValueScoreModel` parameters every candidate shares."""
        return {
            "baseline": {} if self.baseline == "none" else None,
            "objective": self.objective,
            "n_estimators": self.max_trees,
            "learning_rate": self.learning_rate,
            "monotone": None if self.monotone is None else dict(self.monotone),
            "device": self.device,
        }


class ValueOutcome(Outcome):
    """The value score model: current profit plus a model of next year's change.

    ``scores`` has one row per active customer (``value_score``, ``value_current``,
    ``value_change``). Built by :func:`~segml.value.fit.fit_value`, or read from a finished run
    (:func:`segml.open_run`).
    """

    @property
    def scores(self) -> pd.DataFrame:
        """Per active customer: ``value_score``, ``value_current``, ``value_change``."""
        return self.table("value_scores")

    @property
    def selection(self) -> dict[str, Any]:
        """How the model's size was chosen by validation (candidates, chosen, cost limit)."""
        return self.document("value_selection")

    def candidates(self) -> pd.DataFrame:
        """The candidate model sizes tried on validation, one row each."""
        return pd.DataFrame(self.selection.get("candidates") or [])

    @property
    def max_depth(self) -> int:
        """The chosen tree depth."""
        return int(self.document("value_metrics").get("max_depth", 0))

    @property
    def trees(self) -> int:
        """The number of trees of the chosen model."""
        return int(self.document("value_metrics").get("trees", 0))

    @property
    def model(self) -> ValueScoreModel:
        """The fitted :class:`~segml.value.model.ValueScoreModel` (read from
        ``value_model.json`` when read back)."""
        if "value" not in self._models:
            self._models["value"] = ValueScoreModel.from_dict(self.document("value_model"))
        return self._models["value"]

    def load_model(self) -> ValueScoreModel:
        """The fitted model: :attr:`model` (kept for older callers)."""
        return self.model

    def validation(self) -> pd.DataFrame:
        """Validation metrics of the model and of last year's profit, one row each."""
        doc = self.document("value_metrics")
        rows = {
            "model": doc.get("validation"),
            "naive_profit_12m": doc.get("validation_naive_profit_12m"),
        }
        return pd.DataFrame({k: v for k, v in rows.items() if v}).T

    def test(self) -> pd.DataFrame:
        """Test metrics (next year's value after the as-of date) of the model and of last
        year's profit; empty when the data end at the as-of date."""
        doc = self.document("value_metrics")
        if not doc.get("test"):
            return pd.DataFrame()
        rows = {"test": doc["test"], "naive_profit_12m": doc.get("naive_profit_12m") or {}}
        return pd.DataFrame(rows).T
