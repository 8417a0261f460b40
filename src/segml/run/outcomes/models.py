"""Views of the model steps of a finished run: CLV, churn, the value model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from segml.run.outcomes.base import _Step

__all__ = ["ChurnOutcome", "ClvOutcome", "ValueOutcome"]


@dataclass(frozen=True)
class ClvOutcome(_Step):
    """The CLV step: BG/NBD (or Pareto/NBD) + Gamma-Gamma and the supervised models.

    ``scores`` has one row per active customer (P(alive), expected purchases and spend,
    discounted CLV, supervised value and profit).
    """

    @property
    def scores(self) -> pd.DataFrame:
        """Per customer: ``p_alive``, ``expected_purchases``, ``expected_spend``, ``clv`` …"""
        return self._table("clv")

    @property
    def deciles(self) -> pd.DataFrame:
        """Predicted against actual mean value by decile, per model and target (holdout)."""
        return self._table("clv_deciles")

    @property
    def evaluation(self) -> dict[str, Any]:
        """The evaluation document: holdout, validation, convergence, spend model checks."""
        return self._doc("clv_evaluation")

    @property
    def settings(self) -> dict[str, Any]:
        """What the step was run with: model, horizon, discount rate, population, time unit."""
        return self._doc("clv_config")

    @property
    def model_name(self) -> str:
        """The purchase model (``bgnbd``, ``pareto``, ``mbgnbd``)."""
        return str(self.settings.get("model", ""))

    def params(self) -> pd.Series:
        """The fitted parameters (r, α, a, b; p, q, γ)."""
        return self.metrics.under("params").to_series("value")

    def checks(self) -> pd.Series:
        """Convergence retries and the frequency–spend independence check of Gamma-Gamma."""
        vals = {
            f"{part}.{k}": v
            for part in ("retries", "independence")
            for k, v in self.metrics.under(part).to_dict().items()
        }
        return pd.Series(vals, name="value", dtype=float)

    def holdout(self) -> pd.DataFrame:
        """Holdout metrics per (target, predictor): purchases of the purchase model, spend and
        profit of each predictor; empty when the data end at the as-of date."""
        doc = self.evaluation.get("holdout") or {}
        rows: dict[tuple[str, str], Any] = {}
        if "purchases" in doc:
            rows[("purchases", self.model_name)] = doc["purchases"]
        for target in ("spend", "profit"):
            for name, metrics in (doc.get(target) or {}).get("metrics", {}).items():
                rows[(target, name)] = metrics
        frame = pd.DataFrame.from_dict(rows, orient="index")
        if not frame.empty:
            frame.index = pd.MultiIndex.from_tuples(frame.index, names=["target", "predictor"])
        return frame

    def plot_deciles(self, ax: Axes, target: str = "spend") -> Axes:
        """Predicted and actual mean ``target`` by decile of prediction, one line per model."""
        d = self.deciles
        d = d[d["target"] == target] if "target" in d else d
        for model, g in d.groupby("model"):
            ax.plot(g["decile"], g["predicted_mean"], marker="o", label=f"{model} predicted")
            ax.plot(g["decile"], g["actual_mean"], linestyle=":", label=f"{model} actual")
        ax.set(xlabel="decile of prediction", ylabel=f"mean {target}", title=f"{target} by decile")
        ax.legend(fontsize=7)
        return ax


@dataclass(frozen=True)
class ChurnOutcome(_Step):
    """The churn step: an out-of-time xgboost model, calibrated, against the P(alive) baseline."""

    @property
    def scores(self) -> pd.DataFrame:
        """Per active customer: ``churn_probability``, ``churn_decile``, ``p_alive``."""
        return self._table("churn_scores")

    @property
    def calibration(self) -> pd.DataFrame:
        """Mean predicted probability against observed churn per bin (with intervals)."""
        return self._table("churn_calibration")

    @property
    def calibration_method(self) -> str:
        """How the probabilities were calibrated and why (``platt: …``)."""
        doc = self._doc("churn_calibration")
        return str(doc.get("reason") or doc.get("method") or "")

    @property
    def definition(self) -> str:
        """The churn definition (``closure``, ``inactivity``, ``balance_runoff``)."""
        return str(self._doc("churn_metrics").get("definition", ""))

    @property
    def split(self) -> dict[str, Any]:
        """The snapshots the model was trained, validated and tested on."""
        return dict(self._doc("churn_metrics").get("split") or {})

    def metrics_table(self) -> pd.DataFrame:
        """ROC AUC, PR AUC, Brier, log loss, lift, ECE … per split (train, validation, test)
        and for the P(alive) baseline, one row each."""
        return pd.DataFrame(self._doc("churn_metrics").get("metrics") or {}).T

    def importance(self) -> pd.DataFrame:
        """The model's feature importance, as recorded."""
        return pd.DataFrame(self._doc("churn_metrics").get("importance") or [])

    def plot_calibration(self, ax: Axes) -> Axes:
        """Observed churn rate against mean predicted probability per bin."""
        c = self.calibration
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.plot(c["predicted"], c["observed"], marker="o")
        ax.set(xlabel="mean predicted probability", ylabel="observed churn rate")
        return ax


@dataclass(frozen=True)
class ValueOutcome(_Step):
    """The value score model: current profit plus a model of next year's change."""

    @property
    def scores(self) -> pd.DataFrame:
        """Per active customer: ``value_score``, ``value_current``, ``value_change``."""
        return self._table("value_scores")

    @property
    def selection(self) -> dict[str, Any]:
        """How the model's size was chosen by validation (candidates, chosen, cost limit)."""
        return self._doc("value_selection")

    def candidates(self) -> pd.DataFrame:
        """The candidate model sizes tried on validation, one row each."""
        return pd.DataFrame(self.selection.get("candidates") or [])

    @property
    def max_depth(self) -> int:
        """The chosen tree depth."""
        return int(self._doc("value_metrics").get("max_depth", 0))

    @property
    def trees(self) -> int:
        """The number of trees of the chosen model."""
        return int(self._doc("value_metrics").get("trees", 0))

    def validation(self) -> pd.DataFrame:
        """Validation metrics of the model and of last year's profit, one row each."""
        doc = self._doc("value_metrics")
        rows = {
            "model": doc.get("validation"),
            "naive_profit_12m": doc.get("validation_naive_profit_12m"),
        }
        return pd.DataFrame({k: v for k, v in rows.items() if v}).T

    def test(self) -> pd.DataFrame:
        """Test metrics (next year's value after the as-of date) of the model and of last
        year's profit; empty when the data end at the as-of date."""
        doc = self._doc("value_metrics")
        if not doc.get("test"):
            return pd.DataFrame()
        rows = {"test": doc["test"], "naive_profit_12m": doc.get("naive_profit_12m") or {}}
        return pd.DataFrame(rows).T

    def load_model(self) -> Any:
        """The fitted :class:`segml.value.model.ValueScoreModel`, read from the run."""
        from segml.value.model import ValueScoreModel

        return ValueScoreModel.load(self.folder.path / "value_model.json")
