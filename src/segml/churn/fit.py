"""The churn method: trained out of time, calibrated, tested at the as-of date.

:func:`fit_churn` is the method (the churn step of ``segml run`` calls it); it returns a
:class:`~segml.churn.outcome.ChurnOutcome`.

Split design (*t* = as-of date, *h* = horizon in months):

* **train**: features at *t − 2h* and labels from the *h* months after it;
* **validation**: features at *t − h* and labels from the *h* months after it (they end at
  *t*): early stopping, the choice among the search candidates and the calibration map;
* **test**: features at *t* against the labels after *t*, when the data cover that window;
* **scoring**: every customer active at *t*.

Every label window used for fitting ends by *t*, so nothing after *t* reaches the model. A
snapshot needs ``min_history_months`` of transaction history before it; when *t − 2h* has too
little, the validation snapshot alone is split by customer (stratified, seeded) into training
and validation rows, and the result says so. With less history than that the fit refuses.
The baseline is the BG/NBD P(alive) at the same dates (:mod:`segml.churn.baseline`), its
ranking metrics (AUCs, lift, capture) are those of the raw churn score ``1 − P(alive)``, its
probability metrics (Brier, log loss, calibration) those of that score Platt-calibrated on the
validation rows, so that they are comparable with the model's.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import clone

from segml.churn.baseline import p_alive_baseline
from segml.churn.calibration import fit_calibrator
from segml.churn.definitions import one_class_message
from segml.churn.metrics import calibration_table, classification_metrics, risk_deciles
from segml.churn.model import ChurnModel
from segml.churn.outcome import ChurnOutcome, ChurnSettings
from segml.churn.plots import plot_calibration
from segml.churn.search import fit_best
from segml.churn.split import (
    MIN_HORIZON_MONTHS,
    ChurnHorizonWarning,
    ChurnSplit,
    plan_split,
    snapshot_date,
)
from segml.compute import sample_table
from segml.data import BankData
from segml.features.labels import CHURN_DEFINITIONS, ChurnDefinition
from segml.features.snapshots import Snapshots, join_labels
from segml.features.spec import FeatureConfig
from segml.outcome import InMemory
from segml.progress import step
from segml.stability import seed_stability

__all__ = [
    "MIN_HORIZON_MONTHS",
    "ChurnHorizonWarning",
    "NOT_FEATURES",
    "ChurnSplit",
    "fit_churn",
    "plan_split",
    "snapshot_date",
]


#: Feature-table columns never given to the model (key; constant 1 in the active population).
NOT_FEATURES = ("customer_id", "is_active")


def _labels_for(
    snaps: Snapshots, as_of: dt.date, horizon: int, definition: str, inactivity: int, runoff: float
) -> pa.Table | None:
    """Test labels of a derived horizon after ``as_of`` (None when the data end first)."""
    try:
        return snaps.labels(as_of, horizon, cast(ChurnDefinition, definition), inactivity, runoff)
    except ValueError:
        return None


def _history_start(snaps: Snapshots) -> dt.date:
    first = snaps.history_start
    if first is None:
        raise ValueError(f"{snaps.bank.folder}: the transactions table is empty")
    return first


def _snapshot(
    snaps: Snapshots,
    t: dt.date,
    horizon: int,
    definition: str,
    inactivity: int,
    runoff: float,
    _config: FeatureConfig | None = None,
) -> tuple[pa.Table, np.ndarray, pa.Table]:
    """The features at ``t``, the rows of the customers labelled for the window after it and
    their ``churned`` labels (:func:`~segml.features.snapshots.join_labels`: only the sampled
    rows are converted to pandas)."""
    lab = snaps.labels(t, horizon, cast(ChurnDefinition, definition), inactivity, runoff)
    features = snaps.features(t)
    return (features, *join_labels(features, lab, ["churned"]))


def _check_inputs(
    features: pd.DataFrame, labels: pa.Table | None, as_of: dt.date, definition: str
) -> None:
    if definition not in CHURN_DEFINITIONS:
        raise ValueError(f"definition must be one of {CHURN_DEFINITIONS}, got {definition!r}")
    need = ("customer_id", "is_active", "frequency", "recency", "T")
    missing = [c for c in need if c not in features.columns]
    if missing:
        raise ValueError(f"the feature table lacks column(s) {missing}")
    if labels is None:
        return
    missing = [c for c in ("customer_id", "churned") if c not in labels.column_names]
    if missing:
        raise ValueError(f"the labels table lacks column(s) {missing}")
    meta = labels.schema.metadata or {}
    for key, want in ((b"segml.as_of", str(as_of)), (b"segml.churn_definition", definition)):
        got = meta.get(key, want.encode()).decode()
        if got != want:
            raise ValueError(
                f"the labels table has {key.decode()}={got!r} but the stage was asked for {want!r}"
            )


def _xy(frame: pd.DataFrame, exclude: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    drop = [c for c in (*NOT_FEATURES, *exclude, "churned") if c in frame.columns]
    y = frame["churned"].to_numpy(dtype=int) if "churned" in frame else np.zeros(0)
    return frame.drop(columns=drop), y


def _prefixed(prefix: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}.{k}": float(v) for k, v in values.items()}


def _baseline_metrics(y: np.ndarray, raw: np.ndarray, calibrated: np.ndarray) -> dict[str, float]:
    """Ranking metrics of the raw score, probability metrics of its calibrated version."""
    out = classification_metrics(y, calibrated)
    ranking = classification_metrics(y, raw)
    for k in ("roc_auc", "pr_auc", "lift_top10", "capture_top10"):
        out[k] = ranking[k]
    return out


def fit_churn(
    bank: BankData | Snapshots,
    features: pd.DataFrame,
    labels: pa.Table | None,
    as_of: dt.date,
    settings: ChurnSettings | None = None,
    *,
    figures_dir: Path | None = None,
    model_path: Path | None = None,
    config: FeatureConfig | None = None,
) -> ChurnOutcome:
    """Train, calibrate and test the churn model; score every customer active at ``as_of``.

    Parameters
    ----------
    bank : BankData or Snapshots
        The validated bank, or the run's snapshots of it (the training snapshots before
        ``as_of`` come from them).
    features : DataFrame
        The feature table at ``as_of``.
    labels : pyarrow.Table or None
        Labels after ``as_of`` (``customer_id``, ``churned``), or None when the data do not
        cover the window: then there are no test metrics.
    as_of : date
        The as-of date *t*.
    settings : ChurnSettings, optional
        Horizon *h*, churn definition, seed, search, excluded columns, history and training
        sample (default: segml's).
    figures_dir : Path, optional
        Where to write ``churn_calibration.png``.
    model_path : Path, optional
        Folder to save the fitted :class:`ChurnModel` in (``segml run`` keeps none).
    config : FeatureConfig, optional
        The configuration ``features`` was built with (the snapshots use the same).

    Returns
    -------
    ChurnOutcome
        Its tables: ``churn_scores`` (customer_id, churn_probability, churn_decile with 1 =
        highest risk, p_alive) and ``churn_calibration``; documents: ``churn_model.json``,
        ``churn_metrics.json``, ``churn_calibration.json`` (and ``churn_figures.json`` with
        ``figures_dir``); metrics: ``test.*``, ``validation.*``, ``train.*``,
        ``baseline_p_alive.*``, sizes; ``model``: the fitted :class:`ChurnModel`.

    Raises
    ------
    ValueError
        When ``features`` or ``labels`` lack a column or disagree with the settings, the
        history is too short for any training snapshot, or a snapshot has a single class.

    Examples
    --------
    >>> from segml.features import Snapshots
    >>> snaps = Snapshots(load_bank("data/raw/synthetic/bank"))  # doctest: +SKIP
    >>> labels = snaps.labels(as_of, 12)  # doctest: +SKIP
    >>> out = fit_churn(snaps, snaps.frame(as_of), labels, as_of, ChurnSettings(search=1))  # doctest: +SKIP
    >>> out.metrics.value("test.roc_auc"), out.metrics_table()  # doctest: +SKIP
    >>> out.model.predict_proba(X)[:, 1]  # doctest: +SKIP
    """
    st = settings or ChurnSettings()
    horizon_months, definition, seed = st.horizon_months, st.definition, st.seed
    as_of = dt.date.fromisoformat(str(as_of)[:10])
    _check_inputs(features, labels, as_of, definition)
    snaps = Snapshots.of(bank, config)
    split = plan_split(as_of, horizon_months, _history_start(snaps), st.min_history_months,
                       MIN_HORIZON_MONTHS)  # fmt: skip
    if split.horizon_months != horizon_months:
        warnings.warn(split.note.split(";")[0], ChurnHorizonWarning, stacklevel=2)
        horizon_months = split.horizon_months
        labels = _labels_for(snaps, as_of, horizon_months, definition, st.inactivity_days, st.runoff_share)  # fmt: skip
    args = (horizon_months, definition, st.inactivity_days, st.runoff_share, config)
    train, val = _training_frames(snaps, split, args, seed, st.max_train_rows)
    x_tr, y_tr = _xy(train, st.exclude)
    x_va, y_va = _xy(val, st.exclude)
    with step("search_and_fit", f"{st.search + 1} candidates, {len(y_tr):,} rows"):
        model, trials = fit_best(x_tr, y_tr, x_va, y_va, n_candidates=st.search, seed=seed)

    x_pop, p, base_t, scores = _score_active(model, features, st.exclude)
    res = InMemory(figure_dir=None if figures_dir is None else Path(figures_dir))
    res.tables["churn_scores"] = scores
    sets, cal_source, cal, base_cal_table = _evaluate(model, x_tr, y_tr, x_va, y_va, val, scores, labels, seed)  # fmt: skip
    title = f"Churn calibration on {cal_source} rows ({definition}, {horizon_months} months)"
    _keep_calibration(res, model, cal, base_cal_table, cal_source, figures_dir, title)
    if model_path is not None:
        model.save(model_path)
    res.documents["churn_model.json"] = model.config()
    sizes = {
        "train": len(y_tr),
        "validation": len(y_va),
        "test": int(sets["test"]["n"]) if "test" in sets else 0,
        "scored": len(scores),
    }
    res.documents["churn_metrics.json"] = {
        "split": split.to_dict(), "definition": definition, "inactivity_days": st.inactivity_days,
        "runoff_share": st.runoff_share if definition == "balance_runoff" else None,
        "sizes": sizes, "max_train_rows": st.max_train_rows, "held_out": cal_source,
        **_model_report(model, sets, base_t, cal_source, trials, st.exclude),
    }  # fmt: skip
    for name, values in sets.items():
        res.metrics.update(_prefixed(name, values))
    res.metrics.update({f"size.{k}": float(v) for k, v in sizes.items()})
    res.metrics["model.best_iteration"] = float(model.best_iteration_)
    res.metrics["split.out_of_time"] = float(split.mode == "out_of_time")
    res.metrics["horizon_months"] = float(split.horizon_months)
    if st.stability_check:
        res.metrics.update(_seed_stability(model, (x_tr, y_tr, x_va, y_va), x_pop, p, seed))
    return ChurnOutcome(res, {"churn": model})


def _score_active(
    model: ChurnModel, features: pd.DataFrame, exclude: tuple[str, ...]
) -> tuple[pd.DataFrame, np.ndarray, Any, pd.DataFrame]:
    """The customers active at the as-of date scored: their model inputs, churn probabilities,
    the P(alive) baseline and the ``churn_scores`` table."""
    pop = features[features["is_active"] == 1].reset_index(drop=True)
    with step("scoring", f"{len(pop):,} customers"):
        x_pop, _ = _xy(pop, exclude)
        p = model.predict_proba(x_pop)[:, 1]
    base_t = p_alive_baseline(pop)
    scores = pd.DataFrame(
        {
            "customer_id": pop["customer_id"].to_numpy(),
            "churn_probability": p,
            "churn_decile": risk_deciles(p),
            "p_alive": base_t.p_alive,
        }
    )
    return x_pop, p, base_t, scores


def _keep_calibration(
    res: InMemory,
    model: ChurnModel,
    cal: pd.DataFrame,
    base_cal: pd.DataFrame,
    source: str,
    figures_dir: Path | str | None,
    title: str,
) -> None:
    """The calibration table, its figure (model beside the calibrated 1 − P(alive)) and its
    document, on ``res``."""
    res.tables["churn_calibration"] = cal.assign(source=source)
    if figures_dir is not None:
        png = plot_calibration(
            {"churn model": cal, "1 − P(alive), Platt-calibrated": base_cal},
            Path(figures_dir) / "churn_calibration.png",
            title=title,
        )
        res.documents["churn_figures.json"] = {"calibration": png.name}  # beside the document
    res.documents["churn_calibration.json"] = {
        "source": source,
        "method": model.calibrator_.method,
        "reason": model.calibrator_.reason,
        "table": cal.to_dict(orient="records"),
    }


def _seed_stability(model: ChurnModel, data: tuple, x_pop: pd.DataFrame, p: np.ndarray, seed: int) -> dict[str, float]:  # fmt: skip
    """``stability.total_change`` (of the expected churners) and ``stability.spearman`` of the
    chosen model fitted again with the next seed (:func:`segml.stability.seed_stability`)."""
    with step("stability", "the chosen model refitted with the next seed"):
        again = clone(model).set_params(random_state=seed + 1).fit(*data)
        moved = seed_stability(p, again.predict_proba(x_pop)[:, 1])
    return {f"stability.{k}": v for k, v in moved.items()}


def _training_frames(
    snaps: Snapshots, split: ChurnSplit, args: tuple, seed: int, max_train_rows: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and validation snapshots of ``split`` (out of time, or one snapshot split
    by customer), each with a ``churned`` column of both classes, capped at ``max_train_rows``.
    """
    t_val = dt.date.fromisoformat(split.validation_as_of)
    dates = [t_val] if split.mode != "out_of_time" else [t_val, dt.date.fromisoformat(split.train_as_of)]  # fmt: skip
    with step("snapshots", f"{split.train_as_of or 'customer split'}, {t_val}"):
        snapshots = [_snapshot(snaps, t, *args) for t in dates]
    for (_, _, y), t in zip(snapshots, dates, strict=True):
        if pc.count_distinct(y.column("churned")).as_py() < 2:
            raise ValueError(one_class_message(snaps, y.to_pandas(), t, *args))
    (f, rows, y), cap = snapshots[0], (max_train_rows, seed, "churned")
    if split.mode == "out_of_time":
        f_tr, rows_tr, y_tr = snapshots[1]
        return (sample_table(f_tr, *cap, rows=rows_tr, labels=y_tr),
                sample_table(f, *cap, rows=rows, labels=y))  # fmt: skip
    from sklearn.model_selection import train_test_split

    classes = y.column("churned").to_numpy()
    tr, va = train_test_split(np.arange(len(classes)), test_size=0.2, stratify=classes, random_state=seed)  # fmt: skip
    return (sample_table(f, *cap, rows=rows[tr], labels=y.take(tr)),
            sample_table(f, *cap, rows=rows[va], labels=y.take(va)))  # fmt: skip


def _evaluate(
    model: ChurnModel,
    x_tr: pd.DataFrame,
    y_tr: np.ndarray,
    x_va: pd.DataFrame,
    y_va: np.ndarray,
    val: pd.DataFrame,
    scores: pd.DataFrame,
    labels: pa.Table | None,
    seed: int,
) -> tuple[dict[str, dict[str, float]], str, pd.DataFrame, pd.DataFrame]:
    """Metrics of the model and of the calibrated 1 − P(alive) baseline on train, validation
    and (when labels exist) the test rows after the as-of date; the calibration tables of the
    held-out rows. Returns ``(metrics by set, held-out source, model table, baseline table)``.
    """
    base_v = p_alive_baseline(val)
    base_cal = fit_calibrator(base_v.churn_score(), y_va, "platt", seed=seed)
    p_va = model.predict_proba(x_va)[:, 1]
    sets: dict[str, dict[str, float]] = {
        "train": classification_metrics(y_tr, model.predict_proba(x_tr)[:, 1]),
        "validation": classification_metrics(y_va, p_va),
    }
    base_raw = base_v.churn_score()
    cal_source, cal_y, cal_p = "validation", y_va, p_va
    base_y, base_p = y_va, base_cal.transform(base_raw)
    if labels is not None:
        lab = labels.select(["customer_id", "churned"]).to_pandas()
        test = scores.merge(lab, on="customer_id", how="inner", validate="one_to_one")
        y_te = test["churned"].to_numpy(dtype=int)
        base_raw = np.where(
            np.isfinite(test["p_alive"]),
            1.0 - test["p_alive"],
            np.nanmedian(1.0 - scores["p_alive"]),
        )
        sets["test"] = classification_metrics(y_te, test["churn_probability"])
        cal_source, cal_y, cal_p = "test", y_te, test["churn_probability"].to_numpy()
        base_y, base_p = y_te, base_cal.transform(base_raw)
    sets["baseline_p_alive"] = _baseline_metrics(base_y, base_raw, base_p)
    return sets, cal_source, calibration_table(cal_y, cal_p), calibration_table(base_y, base_p)


def _model_report(
    model: ChurnModel,
    sets: dict[str, dict[str, float]],
    base_t: Any,
    cal_source: str,
    trials: Any,
    exclude: tuple[str, ...],
) -> dict[str, Any]:
    """The model's part of ``churn_metrics.json``: metrics, calibration, the baseline, the
    search, and what the model was given."""
    return {
        "metrics": sets,
        "calibration": {"method": model.calibrator_.method, "reason": model.calibrator_.reason},
        "baseline_p_alive": {
            **base_t.to_dict(),
            "score": "1 - P(alive) at the snapshot date, Platt-calibrated on the validation rows",
            "evaluated_on": cal_source,
            "missing_filled_with": "the median score",
        },
        "search": trials,
        "best_iteration": model.best_iteration_,
        "excluded_columns": list(exclude),
        "column_report": model.encoder_.report_,
        "importance": model.feature_importance().head(20).to_dict(orient="records"),
    }
