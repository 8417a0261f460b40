"""CLV of the customers active at a date, probabilistic and supervised, honestly validated.

:func:`fit_clv` is the method (the CLV step of ``segml run`` calls it); it returns a
:class:`~segml.clv.outcome.ClvOutcome`.

* **Calibration** — the RFM columns of the feature table at the as-of date (customer-initiated
  transactions only, one purchase per calendar day; time in days) of every customer with at
  least one such transaction, closed relationships included (they carry the drop-out signal;
  fitted on the active customers only, every model finds no drop-out at all); the purchase
  model and Gamma-Gamma are fitted on them. Predictions are for the active customers.
* **Prediction** — over the label window (``horizon_months`` after the as-of date): P(alive),
  expected purchase days and spend per purchase day, their product and the CLV discounted at
  ``annual_discount_rate`` on explicit days (365.25 a year).
* **Supervised** — xgboost trained out of time on the features at ``as_of − horizon`` and the
  labels of the window ending at ``as_of``, then applied to the features at ``as_of``: spend
  (Tweedie; a hurdle model is scored alongside) and, for 12-month windows, profit (least absolute
  deviations from the current annual profit).
* **Validation** — the same purchase model fitted on the features at ``as_of − horizon`` is
  scored on the window up to ``as_of`` beside the naive forecasts
  (:func:`segml.clv.validation.backtest`): the verdict the tier measure is chosen by, as it
  uses nothing after the as-of date. The naive forecasts at ``as_of`` are columns of the CLV
  table (:data:`~segml.clv.validation.NAIVE_COLUMNS`).
* **Holdout** — when the data cover the label window, every prediction is scored against
  :func:`segml.features.labels.build_labels` (purchase days, spend, profit); otherwise the
  metrics are reported as absent with the reason. The naive baselines
  (:data:`~segml.clv.evaluate.NAIVE_BASELINES`: calibration rate × the window's days, and the
  last window of as many days up to the as-of date) are scored beside the models, and each
  model gets a verdict against the best of them (:func:`~segml.clv.evaluate.naive_comparison`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from segml.clv.comparison import SupervisedComparison, compare_supervised
from segml.clv.data import RFM_COLUMNS, check_rfm_frame
from segml.clv.evaluate import (
    NAIVE_BASELINES,
)
from segml.clv.model import ClvModel
from segml.clv.outcome import ClvOutcome, ClvSettings
from segml.clv.plots import check_figures_dir
from segml.clv.scoring import clv_figures, holdout_deciles, score_holdout
from segml.clv.validation import NAIVE_COLUMNS, backtest, naive_forecasts
from segml.compute import sample_table
from segml.data import BankData
from segml.dates import months_before
from segml.features.build import active
from segml.features.labels import label_window
from segml.features.snapshots import Snapshots, join_labels
from segml.features.spec import FeatureConfig
from segml.jsonio import jsonable
from segml.outcome import InMemory
from segml.progress import step

__all__ = ["SPEND_OBJECTIVES", "fit_clv"]

#: Supervised objectives for spend; the first is reported per customer.
SPEND_OBJECTIVES = ("tweedie", "hurdle")
#: Fewest active customers at the training date for the supervised models.
MIN_TRAIN = 50
_LABELS = ("churned", "holdout_purchase_days", "holdout_spend", "holdout_profit")


def _frame(features: pd.DataFrame | pa.Table) -> pd.DataFrame:
    return features.to_pandas() if isinstance(features, pa.Table) else features


def _labels(snaps: Snapshots, as_of: dt.date, months: int) -> tuple[pa.Table | None, str | None]:  # fmt: skip
    try:
        return snaps.labels(as_of, months), None
    except ValueError as exc:  # the data end before the window does
        return None, str(exc)


#: What the backtest reads of the training snapshot (:func:`segml.clv.validation.backtest`).
_BACKTEST_COLUMNS = ["customer_id", "is_active", "frequency", "recency", "T", "monetary_value"]
Snapshot = tuple[dt.date, pa.Table, pa.Table | None, str | None]


def _snapshot(snaps: Snapshots, as_of: dt.date, months: int) -> Snapshot:
    """The features at ``t0 = as_of − months`` and the labels of ``(t0, as_of]`` (None, and
    why, when the data do not reach back that far), in Arrow: the backtest converts the
    columns it reads, the supervised models the rows they sample."""
    t0 = months_before(as_of, months)
    with step("training_snapshot", str(t0)):
        train_f = snaps.features(t0)
        train_l, why = _labels(snaps, t0, months)
    return t0, train_f, train_l, why


def _validation(
    bank: BankData, snapshot: Snapshot, months: int, model: str, cfg: FeatureConfig
) -> dict[str, Any]:
    """The purchase model against the naive forecasts on the window after the snapshot
    (:func:`segml.clv.validation.backtest`), or why there is none."""
    t0, features, labels, why = snapshot
    if labels is None:
        return {"skipped": f"no labels at {t0}: {why}"}
    w0, w1 = label_window(t0, months)
    frame = features.select(_BACKTEST_COLUMNS).to_pandas()
    held = labels.select(["customer_id", "holdout_spend"]).to_pandas()
    with step("backtest", f"{model} vs naive, window after {t0}"):
        return backtest(bank, frame, held, t0, float((w1 - w0).days + 1), model, cfg)


def _supervised(
    snapshot: Snapshot,
    pop: pd.DataFrame,
    as_of: dt.date,
    holdout: pd.DataFrame | None,
    spend_refs: dict[str, np.ndarray],
    seed: int,
    max_rows: int | None = None,
    stability: bool = False,
) -> tuple[dict[str, SupervisedComparison], dict[str, np.ndarray], str | None]:
    """Train on ``snapshot`` (:func:`_snapshot`; a seeded sample of ``max_rows`` customers when
    there are more); predict ``pop``; score on ``holdout`` when given, beside ``spend_refs`` (the
    probabilistic model's and the naive predictions of holdout spend). ``stability``: refit
    each model with the next seed too (:func:`segml.stability.seed_stability`).

    Returns the comparisons by target, the per-customer predictions by column, and why the
    models were not trained (None when they were).
    """
    t0, train_f, train_l, why = snapshot
    if train_l is None:
        return {}, {}, f"no training labels at {t0}: {why}"
    rows, lab = join_labels(train_f, train_l, [c for c in train_l.column_names if c != "customer_id"])  # fmt: skip
    if len(rows) < MIN_TRAIN:
        return {}, {}, f"{len(rows)} active customers at {t0}; at least {MIN_TRAIN} needed"
    train = sample_table(train_f, max_rows, seed, rows=rows, labels=lab)
    X_train, X_test = train.drop(columns=list(_LABELS), errors="ignore"), pop
    out: dict[str, SupervisedComparison] = {}
    preds: dict[str, np.ndarray] = {}
    y_spend = None if holdout is None else holdout["holdout_spend"]
    with step("supervised_spend", f"xgboost {'+'.join(SPEND_OBJECTIVES)}, {len(train):,} rows"):
        out["spend"] = compare_supervised(
            X_train, train["holdout_spend"], X_test, y_spend, target="holdout_spend",
            train_as_of=t0, predict_as_of=as_of, objectives=SPEND_OBJECTIVES,
            references=spend_refs, seed=seed, stability_seed=seed + 1 if stability else None,
        )  # fmt: skip
    preds["supervised_value"] = out["spend"].predictions[SPEND_OBJECTIVES[0]]
    if (
        "holdout_profit" in train
        and "profit_12m" in pop
        and (holdout is None or "holdout_profit" in holdout)
    ):
        y_profit = None if holdout is None else holdout.get("holdout_profit")
        with step("supervised_profit", f"xgboost, {len(train):,} rows"):
            out["profit"] = compare_supervised(
                X_train, train["holdout_profit"], X_test, y_profit, target="holdout_profit",
                train_as_of=t0, predict_as_of=as_of, objectives=("absoluteerror",),
                references={"naive_profit_12m": pop["profit_12m"].fillna(0.0).to_numpy()},
                baseline="profit_12m", seed=seed,
                stability_seed=seed + 1 if stability else None,
            )  # fmt: skip
        preds["clv_profit_pred"] = out["profit"].predictions["absoluteerror"]
    return out, preds, None


def fit_clv(
    bank: BankData | Snapshots,
    features: pd.DataFrame | pa.Table,
    as_of: dt.date,
    settings: ClvSettings | None = None,
    *,
    figures_dir: Path | None = None,
    config: FeatureConfig | None = None,
) -> ClvOutcome:
    """Probabilistic and supervised CLV of the customers active at ``as_of``.

    Parameters
    ----------
    bank : BankData or Snapshots
        The validated bank, or the run's snapshots of it (the supervised training features
        and the labels come from them).
    features : DataFrame or pyarrow.Table
        The feature table at ``as_of`` (needs ``customer_id``, ``is_active`` and the RFM columns).
    as_of : date
        The as-of date; the horizon starts the next day.
    settings : ClvSettings, optional
        Horizon, purchase model, discount rate, seed, training sample (default: segml's).
    figures_dir : Path, optional
        Where to write the diagnostic PNGs.
    config : FeatureConfig, optional
        Feature configuration (transaction kinds, economics) when ``bank`` is a ``BankData``;
        default segml's. Snapshots carry their own.

    Returns
    -------
    ClvOutcome
        Its tables: ``clv`` (one row per active customer: ``customer_id``,
        ``has_purchase_history``, ``p_alive``, ``expected_purchases``, ``expected_spend``,
        ``expected_value``, ``clv``, ``naive_spend_rate``, ``naive_spend_last_window`` (the naive
        forecasts of spend over the horizon), ``supervised_value`` and ``clv_profit_pred`` (profit needs a
        12-month window starting on the 1st; both missing when not trained)) and
        ``clv_deciles`` (when the holdout is observed); ``documents``: ``clv_model.json`` (config
        and fitted parameters), ``clv_config.json``, ``clv_evaluation.json``,
        ``clv_supervised_<target>.json`` (the xgboost models); ``metrics``: flat numbers.
        Customers without a customer-initiated transaction have no purchase history: their
        ``p_alive`` and ``expected_spend`` are missing and their expected purchases, value and
        CLV are 0. Customers whose Gamma-Gamma expected spend does not exist (``q <= 1`` and
        ``p x + q <= 1``) have missing ``expected_spend``, ``expected_value`` and ``clv``; they
        are left out of the value metrics, deciles and CLV totals and counted
        (``clv.undefined``, ``spend_model.undefined_spend``).

    Examples
    --------
    >>> from segml.features import Snapshots
    >>> snaps = Snapshots(load_bank("data/raw/synthetic/bank"))  # doctest: +SKIP
    >>> out = fit_clv(snaps, snaps.frame(as_of), as_of, ClvSettings(model="pareto"))  # doctest: +SKIP
    >>> out.params(), out.holdout(), out.scores.head()  # doctest: +SKIP
    """
    st = settings or ClvSettings()
    horizon_months, model, seed = st.horizon_months, st.model, st.seed
    annual_discount_rate = st.annual_discount_rate
    snaps = Snapshots.of(bank, config or FeatureConfig())
    bank, cfg = snaps.bank, snaps.config
    if figures_dir is not None:  # before the work, not after it
        check_figures_dir(figures_dir, "figures_dir")
    # the training snapshot first: its feature build (DuckDB, ~2.5 GB at 1M customers) then
    # runs before the probabilistic models and the naive baselines hold their own memory
    snapshot = _snapshot(snaps, as_of, horizon_months)
    pop, has, rfm, fit_rfm = _populations(features)
    start, end = label_window(as_of, horizon_months)
    horizon = float((end - start).days + 1)
    with step("purchase_and_spend_models", f"{model} + Gamma-Gamma, {len(fit_rfm):,} customers"):
        clv_model = ClvModel(model, "D", 1.0).fit(fit_rfm, "features")
        pred = clv_model.predict(rfm, horizon, annual_rate=annual_discount_rate)
    table = _clv_table(pop, has, pred)
    with step("holdout_labels"):
        labels, no_holdout = _labels(snaps, as_of, horizon_months)
    holdout = None if labels is None else _holdout(pop, labels.to_pandas())
    with step("naive_baselines"):
        naive = naive_forecasts(bank, pop, as_of, horizon, cfg)
    for key, column in NAIVE_COLUMNS.items():  # the naive forecasts the tiers may rank on
        table[column] = naive[f"spend_{key}"].to_numpy()
    spend_refs = {"probabilistic": table["expected_value"].to_numpy()}
    if holdout is not None:
        spend_refs |= {k: naive[f"spend_{k}"].to_numpy() for k in NAIVE_BASELINES}
    validation = _validation(bank, snapshot, horizon_months, model, cfg)
    sup, sup_preds, sup_skipped = _supervised(
        snapshot, pop, as_of, holdout, spend_refs, seed, st.max_train_rows, st.stability_check
    )
    for col in ("supervised_value", "clv_profit_pred"):  # same columns whether trained or not
        table[col] = sup_preds.get(col, np.full(len(pop), np.nan))
    res = InMemory(figure_dir=None if figures_dir is None else Path(figures_dir))
    res.tables["clv"] = table
    res.documents["clv_model.json"] = clv_model.to_dict()
    res.documents["clv_config.json"] = {
        "as_of": str(as_of), "horizon_months": horizon_months,
        "window": [str(start), str(end)], "horizon_days": horizon, "model": model,
        "annual_discount_rate": annual_discount_rate, "seed": seed,
        "time_unit": clv_model.unit_.to_dict(), "exclude_kinds": list(cfg.exclude_kinds),
        "population": "active at as_of", "customers": len(pop),
        "with_purchase_history": int(has.sum()), "calibration_customers": len(fit_rfm),
        "calibration_population": "every customer with a customer-initiated transaction",
    }  # fmt: skip
    for target, cmp in sup.items():  # the model whose predictions are in the table
        res.documents[f"clv_supervised_{target}.json"] = cmp.models[cmp.primary].to_dict()
    undefined = int(pred["expected_spend"].isna().sum())
    evaluation: dict[str, Any] = {
        **_fit_report(clv_model, undefined),
        "supervised_skipped": sup_skipped,
        "validation": validation,
        "holdout": None if holdout is not None else {"absent": no_holdout},
    }
    m = res.metrics
    m.update(_metrics(clv_model, pop, has, rfm, fit_rfm, table, undefined))
    m.update(_checks_metrics(sup, validation, holdout is not None))
    if holdout is not None:
        evaluation["holdout"] = score_holdout(holdout, table, naive, spend_refs, sup, model, m)
        res.tables["clv_deciles"] = holdout_deciles(holdout, table, sup_preds)
    elif sup:
        evaluation["supervised"] = {t: {"train_as_of": str(c.train_as_of), "n_train": c.n_train,
                                        "rounds": {k: v.n_rounds_ for k, v in c.models.items()},
                                        "stability": c.stability}
                                    for t, c in sup.items()}  # fmt: skip
    res.documents["clv_evaluation.json"] = evaluation
    res.documents = {k: jsonable(v) for k, v in res.documents.items()}
    if figures_dir is not None:
        with step("figures"):
            clv_figures(Path(figures_dir), clv_model, rfm, pred, holdout, has, table, sup_preds)
    return ClvOutcome(res, {"clv": clv_model})


def _clv_table(pop: pd.DataFrame, has: np.ndarray, pred: pd.DataFrame) -> pd.DataFrame:
    """One row per active customer: the purchase and spend models' predictions, missing
    P(alive) and spend (0 purchases and value) for customers without purchase history."""
    table = pd.DataFrame(
        {"customer_id": pop["customer_id"], "has_purchase_history": has.astype(int)}
    )
    for col in pred.columns:
        fill = np.nan if col in ("p_alive", "expected_spend") else 0.0
        values = np.full(len(pop), fill)
        values[has] = pred[col].to_numpy()
        table[col] = values
    return table


def _holdout(pop: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The labels of the window after the as-of date, one row per active customer (0 where a
    customer has none), indexed like ``pop``."""
    holdout = pop[["customer_id"]].merge(labels, on="customer_id", how="left", validate="one_to_one")  # fmt: skip
    return holdout.fillna({c: 0.0 for c in _LABELS if c in holdout}).set_index(pop.index)


def _checks_metrics(
    sup: dict[str, SupervisedComparison], validation: dict[str, Any], has_holdout: bool
) -> dict[str, float]:
    """The seed-stability metrics of the supervised models, whether the holdout is observed,
    and the validation window's verdicts against the naive forecasts."""
    m: dict[str, float] = {}
    for target, cmp in sup.items():  # refitted with another seed: how far the predictions move
        for obj, moved in cmp.stability.items():
            m.update({f"stability.{target}.{obj}.{k}": v for k, v in moved.items()})
    m["holdout.available"] = float(has_holdout)
    for metric, row in ((validation.get("spend") or {}).get("metrics") or {}).items():
        if row["beats"] is not None:
            m[f"validation.beats_naive.{metric}"] = float(row["beats"])
    return m


def _populations(
    features: pd.DataFrame | pa.Table,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, pd.DataFrame]:
    """The active customers, which of them have a purchase history, their RFM summary, and
    the RFM summary the models are calibrated on (every customer with history, closed ones
    included: they carry the drop-out)."""
    frame = _frame(features)
    if "customer_id" not in frame.columns:
        raise ValueError("features has no column 'customer_id'")
    check_rfm_frame(frame, "features", ("is_active", *RFM_COLUMNS, "monetary_value"))
    pop = active(frame)
    has = pop["T"].notna().to_numpy()
    cols = ["customer_id", *RFM_COLUMNS, "monetary_value"]
    rfm = pop.loc[has, cols].set_index("customer_id")
    fit_rfm = frame.loc[frame["T"].notna(), cols].set_index("customer_id")
    return pop, has, rfm, fit_rfm


def _fit_report(clv_model: ClvModel, undefined: int) -> dict[str, Any]:
    """How the spend and purchase models fitted (``clv_evaluation.json``)."""
    return {
        "spend_model": {
            "exclusions": clv_model.spend_.exclusions_.to_dict(),
            "undefined_spend": undefined,
            "independence": clv_model.spend_.independence_.to_dict(),
            "population_mean": clv_model.spend_.population_mean_,
        },
        "convergence": {
            "purchase": clv_model.purchase_.fit_report_.to_dict(),
            "spend": clv_model.spend_.fit_report_.to_dict(),
        },
    }


def _metrics(
    clv_model: ClvModel,
    pop: pd.DataFrame,
    has: np.ndarray,
    rfm: pd.DataFrame,
    fit_rfm: pd.DataFrame,
    table: pd.DataFrame,
    undefined: int,
) -> dict[str, float]:
    """The stage's flat metrics: fitted parameters, populations, retries, CLV totals."""
    m = {f"params.{k}": float(v) for k, v in clv_model.params().items()}
    m["customers"] = float(len(pop))
    m["with_purchase_history"] = float(has.sum())
    m["repeat_buyers"] = float((rfm["frequency"] > 0).sum())
    m["calibration_customers"] = float(len(fit_rfm))
    m["retries.purchase"] = float(clv_model.purchase_.fit_report_.retries)
    m["retries.spend"] = float(clv_model.spend_.fit_report_.retries)
    m["independence.pearson"] = clv_model.spend_.independence_.pearson
    m["independence.spearman"] = clv_model.spend_.independence_.spearman
    m["clv.total"] = float(table["clv"].sum())  # over the customers with a CLV
    m["clv.mean"] = float(table["clv"].mean())
    m["clv.undefined"] = float(undefined)
    return m
