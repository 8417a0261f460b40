"""The value score method: fit the model that the tier policy ranks.

:func:`fit_value` is the method (the value step of ``segml run`` calls it); it returns a
:class:`~segml.value.outcome.ValueOutcome`.

Out of time, as every model in segml: the features at ``t0 = as_of − h`` and each customer's
profit over ``(t0, as_of]`` train it; it scores the customers active at ``as_of``. The model's
size is chosen by validation among the configured depths (:mod:`segml.value.selection`); when
the data reach past ``as_of`` the scores are tested against the profit of ``(as_of, as_of + h]``
next to the naive "last year's profit" baseline.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from segml.compute import sample_table
from segml.data import BankData
from segml.features.build import active
from segml.features.snapshots import Snapshots, join_labels
from segml.features.spec import FeatureConfig
from segml.outcome import InMemory
from segml.progress import step
from segml.stability import seed_stability
from segml.tiers.policy import DEFAULT_POLICY, TierPolicy
from segml.value.model import ValueScoreModel
from segml.value.outcome import ValueOutcome, ValueSettings
from segml.value.selection import ValueSelection, select_value_model, value_metrics

__all__ = ["fit_value"]

_LABEL_COLUMNS = ("churned", "holdout_purchase_days", "holdout_spend", "holdout_profit",
                  "balance_at_as_of", "balance_at_window_end")  # fmt: skip
#: Fewest active customers at the training date.
MIN_TRAIN = 50


def _training_set(
    snaps: Snapshots, as_of: dt.date, horizon_months: int
) -> tuple[dt.date, pa.Table, np.ndarray, pa.Table]:
    """The training date ``t0``, the features at it, the rows of the customers active at it
    and their profit over ``(t0, as_of]`` (``holdout_profit``; in Arrow:
    :func:`~segml.features.snapshots.join_labels`)."""
    t0 = snaps.months_before(as_of, horizon_months)
    with step("training_snapshot", str(t0)):
        train_f = snaps.features(t0)
        train_l = snaps.labels(t0, horizon_months)
    if "holdout_profit" not in train_l.column_names:
        raise ValueError(f"no profit labels at {t0}")
    is_active = train_f.column("is_active").to_numpy(zero_copy_only=False)
    rows, profit = join_labels(train_f, train_l, ["holdout_profit"], np.flatnonzero(is_active == 1))
    if len(rows) < MIN_TRAIN:
        start = snaps.history_start
        if start is not None and start > t0:
            raise ValueError(
                f"the training snapshot {t0} ({horizon_months} months before the as-of date) is "
                f"before the data start on {start}: the value model needs {horizon_months} months "
                f"of outcome after a snapshot inside the data, so at least {horizon_months + 1} "
                "months of history (docs/history.md)"
            )
        raise ValueError(f"{len(rows)} active customers at {t0}; the value model needs 50")
    return t0, train_f, rows, profit


def fit_value(
    bank: BankData | Snapshots,
    features: pd.DataFrame,
    labels: pa.Table | None,
    as_of: dt.date,
    settings: ValueSettings | None = None,
    *,
    policy: TierPolicy = DEFAULT_POLICY,
    config: FeatureConfig | None = None,
) -> ValueOutcome:
    """Choose, fit and test the value score model; score the customers active at ``as_of``.

    Parameters
    ----------
    bank : BankData or Snapshots
        The validated bank, or the run's snapshots of it (the training snapshot comes from
        them).
    features : DataFrame
        The feature table at ``as_of``.
    labels : pyarrow.Table or None
        Labels after ``as_of`` (``holdout_profit`` tests the scores), None when the data end.
    as_of : date
        The as-of date.
    settings : ValueSettings, optional
        Horizon (must be 12 months), seed, training sample and the model's configuration
        (default: segml's).
    policy : TierPolicy
        The tier policy (for the tier agreement metrics).
    config : FeatureConfig, optional
        The configuration ``features`` was built with.

    Returns
    -------
    ValueOutcome
        Its tables: ``value_scores`` (customer_id, value_score, value_current — the accounting
        baseline, i.e. current profit —, value_change); documents: ``value_model.json``,
        ``value_selection.json``, ``value_metrics.json``; metrics: ``model.*``,
        ``validation.*`` and, with labels, ``test.*`` and ``naive_profit_12m.*``; ``model``:
        the fitted :class:`ValueScoreModel`.

    Raises
    ------
    ValueError
        When the horizon is not 12 months or the history is too short to train.

    Examples
    --------
    >>> from segml.features import Snapshots
    >>> snaps = Snapshots(load_bank("data/raw/synthetic/bank"))  # doctest: +SKIP
    >>> out = fit_value(snaps, snaps.frame(as_of), None, as_of, ValueSettings(depths=(2, 3)))  # doctest: +SKIP
    >>> out.max_depth, out.validation(), out.model.predict(X)  # doctest: +SKIP
    """
    st = settings or ValueSettings()
    horizon_months, seed = st.horizon_months, st.seed
    if horizon_months != 12:
        raise ValueError(f"the value score is next year's profit: labels.horizon_months must be 12, not {horizon_months}")  # fmt: skip
    snaps = Snapshots.of(bank, config)
    t0, table, rows, profit = _training_set(snaps, as_of, horizon_months)
    available = len(rows)
    train = sample_table(table, st.max_train_rows, seed, rows=rows, labels=profit)
    X = train.drop(columns=[c for c in _LABEL_COLUMNS if c in train.columns])
    y = train["holdout_profit"].to_numpy(dtype=float)
    with step("selection", f"depths {list(st.depths)}, {len(y):,} rows"):
        selection = select_value_model(
            X, y, depths=tuple(st.depths), tolerance=st.tolerance,
            max_cost=st.max_cost, policy=policy, seed=seed, **st.params(),
        )  # fmt: skip
    with step("fit"):
        model = ValueScoreModel(**selection.params).fit(X, y)
    pop = active(features)
    current = model._linear(pop)
    score = model.predict(pop)
    scores = pd.DataFrame(
        {
            "customer_id": pop["customer_id"].to_numpy(),
            "value_score": score,
            "value_current": current,
            "value_change": score - current,
        }
    )
    res = InMemory()
    res.tables["value_scores"] = scores
    res.documents["value_model.json"] = model.to_dict()
    res.documents["value_selection.json"] = selection.to_dict()
    doc = _selection_report(selection, res.metrics)
    doc = {"train_as_of": str(t0), "predict_as_of": str(as_of), "n_train": len(y),
           "n_train_available": available, "n_scored": len(scores), **doc}  # fmt: skip
    if labels is not None and "holdout_profit" in labels.column_names:
        sets = _test_sets(labels, scores, pop, policy)
        doc |= sets
        for name, values in sets.items():
            res.metrics.update({f"{name}.{k}": v for k, v in values.items() if np.isfinite(v)})
    if st.stability_check:
        res.metrics.update(_seed_stability(selection.params, X, y, pop, score, policy, seed))
    res.documents["value_metrics.json"] = doc
    return ValueOutcome(res, {"value": model})


def _seed_stability(params: dict, X: pd.DataFrame, y: np.ndarray, pop: pd.DataFrame, score: np.ndarray, policy: TierPolicy, seed: int) -> dict[str, float]:  # fmt: skip
    """``stability.total_change``, ``stability.spearman`` (:func:`segml.stability.seed_stability`)
    and ``stability.tier_agreement`` of the chosen model fitted again with the next seed."""
    with step("stability", "the chosen model refitted with the next seed"):
        again = ValueScoreModel(**{**params, "seed": seed + 1}).fit(X, y).predict(pop)
    moved = seed_stability(score, again)
    if len(score):
        moved["tier_agreement"] = float((policy.levels(score) == policy.levels(again)).mean())
    return {f"stability.{k}": v for k, v in moved.items()}


def _selection_report(selection: ValueSelection, metrics: dict[str, float]) -> dict[str, object]:
    """The chosen candidate's size and validation metrics (``value_metrics.json``); adds them,
    and the naive forecast's, to ``metrics``."""
    chosen = selection.candidates[selection.candidates["chosen"]].iloc[0]
    validation = {k: float(chosen[k]) for k in ("mae", "rmse", "spearman", "tier_agreement")}
    doc: dict[str, object] = {
        "max_depth": int(chosen["max_depth"]),
        "trees": float(chosen["trees"]),
        "validation": validation,
        "validation_naive_profit_12m": selection.naive,
    }
    metrics.update({"model.max_depth": float(chosen["max_depth"]), "model.trees": float(chosen["trees"])})  # fmt: skip
    metrics.update({f"validation.{k}": v for k, v in validation.items()})
    for metric, row in ((selection.naive or {}).get("metrics") or {}).items():
        if row["best_naive"] is not None and np.isfinite(row["best_naive"]):
            metrics[f"validation.naive_profit_12m.{metric}"] = float(row["best_naive"])
    return doc


def _test_sets(
    labels: pa.Table, scores: pd.DataFrame, pop: pd.DataFrame, policy: TierPolicy
) -> dict[str, dict[str, float]]:
    """The scores and last year's profit (``profit_12m``) against the profit after the as-of
    date, for the customers with labels."""
    lab = labels.select(["customer_id", "holdout_profit"]).to_pandas()
    test = scores.merge(lab, on="customer_id", how="inner", validate="one_to_one")
    naive = test.merge(pop[["customer_id", "profit_12m"]], on="customer_id", how="left")
    y_te = test["holdout_profit"].to_numpy(dtype=float)
    return {
        "test": value_metrics(y_te, test["value_score"].to_numpy(), policy),
        "naive_profit_12m": value_metrics(
            y_te, naive["profit_12m"].fillna(0.0).to_numpy(dtype=float), policy
        ),
    }
