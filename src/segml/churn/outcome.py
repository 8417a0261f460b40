"""What the churn method made for one bank at one date: :class:`ChurnSettings` in,
:class:`ChurnOutcome` out.

:func:`segml.churn.fit.fit_churn` returns a :class:`ChurnOutcome` held in memory; a finished
run's churn step reads back as the same class (:func:`segml.open_run`). Its tables and
documents are those the run writes: ``churn_scores`` (per active customer),
``churn_calibration``, ``churn_model.json`` (the model's configuration, not its trees),
``churn_calibration.json``, ``churn_metrics.json`` and, with figures, ``churn_figures.json``.

Examples
--------
>>> ChurnSettings(definition="inactivity", inactivity_days=60).exclude
('gender',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from segml.churn.model import ChurnModel
from segml.outcome import InMemory, Outcome

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from segml.features.labels import ChurnDefinition

__all__ = ["DEFAULT_EXCLUDE", "ChurnOutcome", "ChurnSettings"]

#: Columns left out by default: a protected attribute (dropping it costs no measurable AUC on
#: the synthetic bank); the other demographic columns stay in and are reported.
DEFAULT_EXCLUDE = ("gender",)


@dataclass(frozen=True)
class ChurnSettings:
    """How :func:`~segml.churn.fit.fit_churn` trains and tests the churn model.

    Parameters
    ----------
    horizon_months : int
        Label window length *h* (months after each snapshot).
    definition : {"closure", "inactivity", "balance_runoff"}
        Churn definition (:func:`segml.features.labels.build_labels`).
    inactivity_days : int
        For ``inactivity``.
    runoff_share : float
        For ``balance_runoff``.
    seed : int
        Seeds the search, the models and the customer split of the fallback.
    search : int
        Random hyper-parameter candidates tried besides the defaults (on validation).
    exclude : tuple of str
        Feature columns not used (default: ``gender``).
    min_history_months : int
        History a training snapshot needs before it.
    max_train_rows : int, optional
        The training and the validation snapshot are each cut to a seeded sample of this many
        customers, stratified by the label, when they have more (None: all).
    stability_check : bool
        Fit the chosen model again with ``seed + 1`` and record how far the predicted churners
        and the ranking move (metrics ``stability.total_change`` and ``stability.spearman``:
        :func:`segml.stability.seed_stability`).
    """

    horizon_months: int = 12
    definition: ChurnDefinition = "closure"
    inactivity_days: int = 90
    runoff_share: float = 0.5
    seed: int = 42
    search: int = 4
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    min_history_months: int = 12
    max_train_rows: int | None = None
    stability_check: bool = True


class ChurnOutcome(Outcome):
    """An out-of-time xgboost churn model, calibrated, against the P(alive) baseline.

    ``scores`` has one row per active customer (``churn_probability``, ``churn_decile``,
    ``p_alive``). Built by :func:`~segml.churn.fit.fit_churn`, or read from a finished run
    (:func:`segml.open_run`).
    """

    @property
    def scores(self) -> pd.DataFrame:
        """Per active customer: ``churn_probability``, ``churn_decile``, ``p_alive``."""
        return self.table("churn_scores")

    @property
    def calibration(self) -> pd.DataFrame:
        """Mean predicted probability against observed churn per bin (with intervals)."""
        return self.table("churn_calibration")

    @property
    def calibration_method(self) -> str:
        """How the probabilities were calibrated and why (``platt: …``)."""
        doc = self.document("churn_calibration")
        return str(doc.get("reason") or doc.get("method") or "")

    @property
    def definition(self) -> str:
        """The churn definition (``closure``, ``inactivity``, ``balance_runoff``)."""
        return str(self.document("churn_metrics").get("definition", ""))

    @property
    def split(self) -> dict[str, Any]:
        """The snapshots the model was trained, validated and tested on."""
        return dict(self.document("churn_metrics").get("split") or {})

    @property
    def model(self) -> ChurnModel:
        """The fitted :class:`~segml.churn.model.ChurnModel`.

        Raises
        ------
        LookupError
            For an outcome read back from a run folder: the folder keeps the model's
            configuration (``churn_model.json``), not its trees; the message says where the
            model is (the run's exported MLflow model, when the run exported one).
        """
        if "churn" not in self._models:
            raise LookupError(self._not_kept())
        return self._models["churn"]

    def _not_kept(self) -> str:
        what = "this outcome holds no fitted churn model"
        if isinstance(self.outputs, InMemory):
            return what
        msg = (
            "the run folder does not keep the churn model: churn_model.json holds its "
            "configuration, not its trees"
        )
        info = self.outputs.json("model_info")
        if isinstance(info, dict) and info.get("model_uri"):
            return (
                f"{msg}; the run's exported MLflow model {info['model_uri']} "
                "(model_info.json) holds it, as churn_model/ of its bundle "
                "(segml.churn.ChurnModel.load reads that folder)"
            )
        return (
            f"{msg}, and the run exported no model that would hold it; fit it again with "
            "segml.churn.fit_churn(..., model_path=...) to keep one"
        )

    def metrics_table(self) -> pd.DataFrame:
        """ROC AUC, PR AUC, Brier, log loss, lift, ECE … per split (train, validation, test)
        and for the P(alive) baseline, one row each."""
        return pd.DataFrame(self.document("churn_metrics").get("metrics") or {}).T

    def importance(self) -> pd.DataFrame:
        """The model's feature importance, as recorded (the top 20)."""
        return pd.DataFrame(self.document("churn_metrics").get("importance") or [])

    def plot_calibration(self, ax: Axes) -> Axes:
        """Observed churn rate against mean predicted probability per bin."""
        c = self.calibration
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.plot(c["predicted"], c["observed"], marker="o")
        ax.set(xlabel="mean predicted probability", ylabel="observed churn rate")
        return ax
