"""The CLV step's scoring against the window after the as-of date (when the data reach it):
purchase and spend metrics beside the naive forecasts, verdicts, decile tables, and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.clv.comparison import SupervisedComparison
from segml.clv.evaluate import (
    MODEL_NAMES,
    NAIVE_BASELINES,
    decile_table,
    naive_comparison,
    purchase_metrics,
    value_metrics,
)
from segml.clv.model import ClvModel
from segml.clv.plots import save_figures

__all__ = ["clv_figures", "holdout_deciles", "score_holdout"]


def score_holdout(
    holdout: pd.DataFrame,
    table: pd.DataFrame,
    naive: pd.DataFrame,
    spend_refs: dict[str, np.ndarray],
    sup: dict[str, SupervisedComparison],
    kind: str,
    m: dict[str, float],
) -> dict[str, Any]:
    """The ``holdout`` part of ``clv_evaluation.json``; adds the flat metrics to ``m``.

    Purchase days: the purchase model and each naive baseline (``purchases``,
    ``purchase_baselines``; metrics ``holdout.purchases.<metric>`` and
    ``holdout.purchases.<baseline>.<metric>``); spend and profit: the supervised comparisons
    (or, without them, the probabilistic model and the baselines); ``verdicts``: each model
    against the best naive (metrics ``holdout.beats_naive.<model>.<metric>``, 1 or 0).
    """
    bought, spent = holdout["holdout_purchase_days"], holdout["holdout_spend"]
    pm = purchase_metrics(bought, table["expected_purchases"])
    out: dict[str, Any] = {"purchases": pm.to_dict(), "purchase_baselines": {}}
    m.update({f"holdout.purchases.{k}": float(v) for k, v in pm.to_dict().items()})
    refs = {k: naive[f"purchases_{k}"].to_numpy() for k in NAIVE_BASELINES}
    for key, pred in refs.items():
        out["purchase_baselines"][key] = purchase_metrics(bought, pred).to_dict()
        m.update({f"holdout.purchases.{key}.{k}": float(v) for k, v in out["purchase_baselines"][key].items()})  # fmt: skip
    for target, cmp in sup.items():
        out[target] = cmp.to_dict()
        m.update(cmp.flat_metrics(f"holdout.{target}"))
    if not sup:  # still score the probabilistic value and the baselines
        scores = {k: value_metrics(spent, v, leave_out_undefined=True).scalars() for k, v in spend_refs.items()}  # fmt: skip
        out["spend"] = {"metrics": scores}
        m.update({f"holdout.spend.{k}.{s}": v for k, d in scores.items() for s, v in d.items()})
    naive_spend = {k: spend_refs[k] for k in NAIVE_BASELINES}
    name = MODEL_NAMES.get(kind, kind)
    verdicts = {
        kind: naive_comparison(name, "purchases", bought, table["expected_purchases"], refs),
        "probabilistic": naive_comparison(
            f"{name} + Gamma-Gamma", "spend", spent, table["expected_value"], naive_spend
        ),
    }
    if "spend" in sup:
        for obj, pred in sup["spend"].predictions.items():
            verdicts[obj] = naive_comparison(MODEL_NAMES.get(obj, obj), "spend", spent, pred, naive_spend)  # fmt: skip
    out["verdicts"] = {k: v.to_dict() for k, v in verdicts.items()}
    m.update(
        {f"holdout.beats_naive.{k}.{metric}": float(b)
         for k, v in verdicts.items() for metric, r in v.metrics.items() if (b := r["beats"]) is not None}
    )  # fmt: skip
    return out


def clv_figures(
    folder: Path,
    clv_model: ClvModel,
    rfm: pd.DataFrame,
    pred: pd.DataFrame,
    holdout: pd.DataFrame | None,
    has: np.ndarray,
    table: pd.DataFrame,
    sup_preds: dict[str, np.ndarray],
) -> None:
    """The CLV diagnostics: the purchase model's fit, and against the holdout when observed."""
    if holdout is None:
        save_figures(folder, clv_model.purchase_, rfm, None, None, None, None)
        return
    values = {"probabilistic": table["expected_value"].to_numpy()}
    if "supervised_value" in sup_preds:
        values["supervised (tweedie)"] = sup_preds["supervised_value"]
    save_figures(
        folder, clv_model.purchase_, rfm,
        holdout["holdout_purchase_days"].to_numpy()[has], pred["expected_purchases"].to_numpy(),
        holdout["holdout_spend"].to_numpy(), values,
    )  # fmt: skip


def holdout_deciles(
    holdout: pd.DataFrame, table: pd.DataFrame, sup_preds: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Decile tables of each model's prediction against the holdout spend (and profit)."""
    deciles = []
    values = {"probabilistic": table["expected_value"].to_numpy()}
    values |= {k: v for k, v in sup_preds.items() if k == "supervised_value"}
    for name, pred_v in values.items():
        d = decile_table(holdout["holdout_spend"], pred_v, leave_out_undefined=True)
        deciles.append(d.assign(model=name, target="holdout_spend"))
    if "clv_profit_pred" in sup_preds and "holdout_profit" in holdout:
        d = decile_table(holdout["holdout_profit"], sup_preds["clv_profit_pred"])
        deciles.append(d.assign(model="clv_profit_pred", target="holdout_profit"))
    return pd.concat(deciles, ignore_index=True)
