"""What the CLV method made for one bank at one date: :class:`ClvSettings` in, :class:`ClvOutcome` out.

:func:`segml.clv.fit.fit_clv` returns a :class:`ClvOutcome` held in memory; a finished run's
CLV step reads back as the same class (:func:`segml.open_run`). Its tables and documents are
those the run writes: ``clv`` (per customer), ``clv_deciles``, ``clv_model.json``,
``clv_config.json``, ``clv_evaluation.json``, ``clv_supervised_<target>.json``.

Examples
--------
>>> ClvSettings(horizon_months=6, model="pareto").model
'pareto'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from segml.clv.model import ClvModel
from segml.outcome import Outcome

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ClvOutcome", "ClvSettings"]


@dataclass(frozen=True)
class ClvSettings:
    """How :func:`~segml.clv.fit.fit_clv` models CLV.

    Parameters
    ----------
    horizon_months : int
        Prediction horizon and label window (months after the as-of date).
    model : {"bgnbd", "pareto", "mbgnbd"}
        Purchase model.
    annual_discount_rate : float
        Discount rate of the ``clv`` column (per year of 365.25 days).
    seed : int
        Seed of the supervised models.
    max_train_rows : int, optional
        The supervised models are fitted on a seeded sample of this many training customers
        when there are more; None: all.
    stability_check : bool
        Refit each supervised model with the next seed and report how much its predictions
        move (metrics ``stability.<target>.<objective>.total_change`` and ``.spearman``).
    """

    horizon_months: int = 12
    model: Literal["bgnbd", "pareto", "mbgnbd"] = "bgnbd"
    annual_discount_rate: float = 0.1
    seed: int = 42
    max_train_rows: int | None = None
    stability_check: bool = True


class ClvOutcome(Outcome):
    """Probabilistic and supervised CLV of the active customers, with its evaluation.

    ``scores`` has one row per active customer (P(alive), expected purchases and spend,
    discounted CLV, the naive forecasts, supervised value and profit). Built by
    :func:`~segml.clv.fit.fit_clv`, or read from a finished run (:func:`segml.open_run`).
    """

    @property
    def scores(self) -> pd.DataFrame:
        """Per customer: ``p_alive``, ``expected_purchases``, ``expected_spend``, ``clv`` …"""
        return self.table("clv")

    @property
    def deciles(self) -> pd.DataFrame:
        """Predicted against actual mean value by decile, per model and target (holdout)."""
        return self.table("clv_deciles")

    @property
    def evaluation(self) -> dict[str, Any]:
        """The evaluation document: holdout, validation, convergence, spend model checks."""
        return self.document("clv_evaluation")

    @property
    def settings(self) -> dict[str, Any]:
        """What the method was run with: model, horizon, discount rate, population, time unit."""
        return self.document("clv_config")

    @property
    def model_name(self) -> str:
        """The purchase model (``bgnbd``, ``pareto``, ``mbgnbd``)."""
        return str(self.settings.get("model", ""))

    @property
    def model(self) -> ClvModel:
        """The fitted purchase and spend models (read from ``clv_model.json`` when read back)."""
        if "clv" not in self._models:
            self._models["clv"] = ClvModel.from_dict(self.document("clv_model"))
        return self._models["clv"]

    @property
    def scoring(self) -> tuple[float | None, float | None]:
        """``(horizon in days, annual discount rate)`` the CLV was computed with."""
        doc = self.settings
        return doc.get("horizon_days"), doc.get("annual_discount_rate")

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
        """Predicted and actual mean ``target`` (``spend``, ``profit``) by decile of prediction,
        one line per model."""
        d = self.deciles
        name = target if target.startswith("holdout_") else f"holdout_{target}"
        d = d[d["target"] == name] if "target" in d else d
        for model, g in d.groupby("model"):
            ax.plot(g["decile"], g["predicted_mean"], marker="o", label=f"{model} predicted")
            ax.plot(g["decile"], g["actual_mean"], linestyle=":", label=f"{model} actual")
        ax.set(xlabel="decile of prediction", ylabel=f"mean {target}", title=f"{target} by decile")
        ax.legend(fontsize=7)
        return ax
