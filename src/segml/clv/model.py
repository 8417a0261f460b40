"""The probabilistic CLV model: a purchase model and Gamma-Gamma, on one explicit time unit.

:class:`ClvModel` fits both models on an RFM summary frame (lifetimes' columns) and predicts,
per customer, P(alive), expected purchases and spend over a horizon, their undiscounted
product and the discounted CLV; it saves its configuration and parameters as one JSON file.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator

from segml.clv.data import RFM_COLUMNS, as_rfm_arrays, check_rfm_frame
from segml.clv.purchase import PurchaseKind, PurchaseModel
from segml.clv.spend import SpendModel
from segml.clv.value import TimeUnit, discounted_clv
from segml.jsonio import JsonModel
from segml.tableinput import check_fitted

__all__ = ["PREDICTION_COLUMNS", "ClvModel"]

MODEL_FORMAT = "segml.clv.ClvModel/1"
#: Columns of :meth:`ClvModel.predict`.
PREDICTION_COLUMNS = (
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "expected_value",
    "clv",
)


class ClvModel(JsonModel, BaseEstimator):
    """BG/NBD (or Pareto/NBD, MBG/NBD) + Gamma-Gamma customer lifetime value.

    Parameters
    ----------
    kind : {"bgnbd", "pareto", "mbgnbd"}
        Purchase model.
    freq, freq_multiplier : str, float
        Time unit of the RFM inputs (:class:`~segml.clv.value.TimeUnit`).
    penalizer, max_retries : float, int
        First penalizer and retries of both fits.
    independence_threshold : float
        See :class:`~segml.clv.spend.SpendModel`.

    Attributes
    ----------
    purchase_ : PurchaseModel
    spend_ : SpendModel
    unit_ : TimeUnit
    """

    def __init__(
        self,
        kind: PurchaseKind = "bgnbd",
        freq: str = "D",
        freq_multiplier: float = 1.0,
        penalizer: float = 0.0,
        max_retries: int = 3,
        independence_threshold: float = 0.3,
    ) -> None:
        self.kind = kind
        self.freq = freq
        self.freq_multiplier = freq_multiplier
        self.penalizer = penalizer
        self.max_retries = max_retries
        self.independence_threshold = independence_threshold

    def fit(self, rfm: pd.DataFrame, source: str = "RFM summary") -> ClvModel:
        """Fit both models on ``frequency, recency, T, monetary_value`` of ``rfm``.

        Raises
        ------
        ValueError
            Missing or invalid columns (naming ``source`` and the customers).
        """
        check_rfm_frame(rfm, source, (*RFM_COLUMNS, "monetary_value"))
        self.unit_ = TimeUnit(self.freq, float(self.freq_multiplier))
        self.purchase_ = PurchaseModel(
            self.kind, self.penalizer, self.max_retries, time_unit=self.unit_.name
        ).fit(rfm["frequency"], rfm["recency"], rfm["T"])
        self.spend_ = SpendModel(self.penalizer, self.max_retries, self.independence_threshold).fit(
            rfm["frequency"], rfm["monetary_value"]
        )
        return self

    def _fitted(self) -> None:
        check_fitted(self, "purchase_", "this ClvModel is not fitted yet: call fit() or load()")

    def predict(
        self, rfm: pd.DataFrame, horizon: float, annual_rate: float = 0.1, step: float | None = None
    ) -> pd.DataFrame:
        """Per-customer predictions over the next ``horizon`` time units.

        Returns
        -------
        DataFrame
            Same index as ``rfm``: ``p_alive``, ``expected_purchases`` (in the horizon),
            ``expected_spend`` (per purchase), ``expected_value`` (their product, undiscounted)
            and ``clv`` (discounted at ``annual_rate`` on the model's time unit). The last
            three are NaN where Gamma-Gamma's expected spend does not exist (``q <= 1`` and
            ``p x + q <= 1``, see :meth:`SpendModel.expected_spend`); never negative.
        """
        self._fitted()
        check_rfm_frame(rfm, "prediction input", (*RFM_COLUMNS, "monetary_value"))
        # checked once, naming rows by their labels; the formulas then take plain arrays
        x, tx, t = as_rfm_arrays(rfm["frequency"], rfm["recency"], rfm["T"], "prediction input",
                                 allow_empty=True)  # fmt: skip
        spend = self.spend_.expected_spend(x, rfm["monetary_value"])
        purchases = self.purchase_.expected_purchases(horizon, x, tx, t)
        clv = discounted_clv(
            self.purchase_, spend, x, tx, t, horizon, annual_rate, self.unit_, step
        )
        out = pd.DataFrame(
            {
                "p_alive": self.purchase_.p_alive(x, tx, t),
                "expected_purchases": purchases,
                "expected_spend": spend,
                "expected_value": purchases * spend,
                "clv": clv,
            },
            index=rfm.index,
        )
        return out

    def params(self) -> dict[str, float]:
        """Both models' parameters under their usual names (``r, alpha, a, b, p, q, gamma``)."""
        self._fitted()
        return self.purchase_.params_ | self.spend_.params_

    def to_dict(self) -> dict[str, Any]:
        """Configuration and, when fitted, both models (JSON-ready)."""
        out: dict[str, Any] = {"format": MODEL_FORMAT, "config": self.get_params()}
        if hasattr(self, "purchase_"):
            out |= {
                "unit": self.unit_.to_dict(),
                "purchase": self.purchase_.to_dict(),
                "spend": self.spend_.to_dict(),
            }
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ClvModel:
        """Rebuild a model written by :meth:`to_dict`."""
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a saved ClvModel (format {doc.get('format')!r})")
        model = cls(**doc["config"])
        if "purchase" in doc:
            model.unit_ = TimeUnit(model.freq, float(model.freq_multiplier))
            model.purchase_ = PurchaseModel.from_dict(doc["purchase"])
            model.spend_ = SpendModel.from_dict(doc["spend"])
        return model
