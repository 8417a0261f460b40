"""The churn stage of ``segml run``: trained out of time, calibrated, tested at the as-of date.

Split design (*t* = as-of date, *h* = horizon in months):

* **train**: features at *t − 2h* and labels from the *h* months after it;
* **validation**: features at *t − h* and labels from the *h* months after it (they end at
  *t*): early stopping, the choice among the search candidates and the calibration map;
* **test**: features at *t* against the labels after *t*, when the data cover that window;
* **scoring**: every customer active at *t*.

Every label window used for fitting ends by *t*, so nothing after *t* reaches the model. A
snapshot needs ``min_history_months`` of transaction history before it; when *t − 2h* has too
little, the validation snapshot alone is split by customer (stratified, seeded) into training
and validation rows, and the result says so. With less history than that the stage refuses.
The baseline is the BG/NBD P(alive) at the same dates (:mod:`segml.churn.baseline`), its
ranking metrics (AUCs, lift, capture) are those of the raw churn score ``1 − P(alive)``, its
probability metrics (Brier, log loss, calibration) those of that score Platt-calibrated on the
validation rows, so that they are comparable with the model's.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa

from segml.churn.baseline import p_alive_baseline
from segml.churn.calibration import fit_calibrator
from segml.churn.definitions import one_class_message
from segml.churn.metrics import calibration_table, classification_metrics, risk_deciles
from segml.churn.plots import plot_calibration
from segml.churn.search import fit_best
from segml.churn.split import (
    MIN_HORIZON_MONTHS,
    ChurnHorizonWarning,
    ChurnSplit,
    plan_split,
    snapshot_date,
)
from segml.compute import sample_frame
from segml.data import BankData
from segml.features.labels import CHURN_DEFINITIONS, ChurnDefinition
from segml.features.spec import FeatureConfig
from segml.progress import step
from segml.stages import StageResult

__all__ = [
    "MIN_HORIZON_MONTHS",
    "ChurnHorizonWarning",
    "NOT_FEATURES",
    "ChurnSplit",
    "churn_stage",
    "plan_split",
    "snapshot_date",
]


#: Feature-table columns never given to the model (key; constant 1 in the active population).
NOT_FEATURES = ("customer_id", "is_active")
#: Columns left out by default: a protected attribute (dropping it costs no measurable AUC on
#: the synthetic bank); the other demographic columns stay in and are reported.
DEFAULT_EXCLUDE = ("gender",)


def _labels_for(
    bank: BankData,
    as_of: dt.date,
    horizon: int,
    definition: str,
    inactivity: int,
    runoff: float,
    config: FeatureConfig | None,
) -> pa.Table | None:
    """Test labels of a derived horizon after ``as_of`` (None when the data end first)."""
    from segml.features.labels import build_labels

    try:
        return build_labels(bank, as_of, horizon, cast(ChurnDefinition, definition), inactivity,
                            config, runoff_share=runoff)  # fmt: skip
    except ValueError:
        return None


def _history_start(bank: BankData) -> dt.date:
    first = bank.first_transaction_date()
    if first is None:
        raise ValueError(f"{bank.folder}: the transactions table is empty")
    return first


def _snapshot(
    bank: BankData,
    t: dt.date,
    horizon: int,
    definition: str,
    inactivity: int,
    runoff: float,
    config: FeatureConfig | None,
) -> pd.DataFrame:
    from segml.features import build_features
    from segml.features.labels import build_labels

    f = build_features(bank, t, config).to_pandas()
    kind = cast(ChurnDefinition, definition)
    lab = build_labels(bank, t, horizon, kind, inactivity, config, runoff_share=runoff)
    y = lab.select(["customer_id", "churned"]).to_pandas()
    return f.merge(y, on="customer_id", how="inner", validate="one_to_one")


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


def churn_stage(
    bank: BankData,
    features: pd.DataFrame,
    labels: pa.Table | None,
    as_of: dt.date,
    horizon_months: int,
    definition: str,
    inactivity_days: int,
    seed: int = 42,
    figures_dir: Path | None = None,
    *,
    model_path: Path | None = None,
    runoff_share: float = 0.5,
    search: int = 4,
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE,
    min_history_months: int = 12,
    config: FeatureConfig | None = None,
    max_train_rows: int | None = None,
) -> StageResult:
    """Train, calibrate and test the churn model; score every customer active at ``as_of``.

    Parameters
    ----------
    bank : BankData
        The validated bank (snapshots before ``as_of`` are built from it).
    features : DataFrame
        The feature table at ``as_of``.
    labels : pyarrow.Table or None
        Labels after ``as_of`` (``customer_id``, ``churned``), or None when the data do not
        cover the window: then there are no test metrics.
    as_of : date
        The as-of date *t*.
    horizon_months : int
        Label window length *h*.
    definition : {"closure", "inactivity", "balance_runoff"}
        Churn definition (:func:`segml.features.labels.build_labels`).
    inactivity_days : int
        For ``inactivity``.
    seed : int
        Seeds the search, the models and the customer split of the fallback.
    figures_dir : Path, optional
        Where to write ``churn_calibration.png``.
    model_path : Path, optional
        Folder to save the fitted :class:`ChurnModel` in.
    runoff_share : float
        For ``balance_runoff``.
    search : int
        Random hyper-parameter candidates tried besides the defaults (on validation).
    exclude : tuple of str
        Feature columns not used (default: ``gender``).
    min_history_months : int
        History a training snapshot needs before it.
    config : FeatureConfig, optional
        The configuration ``features`` was built with (the snapshots use the same).
    max_train_rows : int, optional
        The training and the validation snapshot are each cut to a seeded sample of this many
        customers, stratified by the label, when they have more (None: all).

    Returns
    -------
    StageResult
        ``tables``: ``churn_scores`` (customer_id, churn_probability, churn_decile with 1 =
        highest risk, p_alive) and ``churn_calibration``; ``documents``: ``churn_model.json``,
        ``churn_metrics.json``, ``churn_calibration.json``; ``metrics``: ``test.*``,
        ``validation.*``, ``train.roc_auc``, ``baseline_p_alive.*``, sizes.

    Raises
    ------
    ValueError
        When ``features`` or ``labels`` lack a column or disagree with the arguments, the
        history is too short for any training snapshot, or a snapshot has a single class.
    """
    as_of = dt.date.fromisoformat(str(as_of)[:10])
    _check_inputs(features, labels, as_of, definition)
    split = plan_split(as_of, horizon_months, _history_start(bank), min_history_months,
                       MIN_HORIZON_MONTHS)  # fmt: skip
    if split.horizon_months != horizon_months:
        warnings.warn(split.note.split(";")[0], ChurnHorizonWarning, stacklevel=2)
        horizon_months = split.horizon_months
        labels = _labels_for(bank, as_of, horizon_months, definition, inactivity_days, runoff_share, config)  # fmt: skip
    args = (horizon_months, definition, inactivity_days, runoff_share, config)
    t_val = dt.date.fromisoformat(split.validation_as_of)
    with step("snapshots", f"{split.train_as_of or 'customer split'}, {t_val}"):
        val = _snapshot(bank, t_val, *args)
        if split.mode == "out_of_time":
            train = _snapshot(bank, dt.date.fromisoformat(split.train_as_of), *args)
    for frame, t in ((val, t_val), *([(train, split.train_as_of)] if split.mode == "out_of_time" else [])):  # fmt: skip
        if frame["churned"].nunique() < 2:
            raise ValueError(one_class_message(bank, frame, dt.date.fromisoformat(str(t)), *args))
    if split.mode != "out_of_time":
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(val))
        tr, va = train_test_split(idx, test_size=0.2, stratify=val["churned"], random_state=seed)
        train, val = val.iloc[tr].reset_index(drop=True), val.iloc[va].reset_index(drop=True)
    train, val = (sample_frame(f, max_train_rows, seed, "churned") for f in (train, val))
    x_tr, y_tr = _xy(train, exclude)
    x_va, y_va = _xy(val, exclude)
    with step("search_and_fit", f"{search + 1} candidates, {len(y_tr):,} rows"):
        model, trials = fit_best(x_tr, y_tr, x_va, y_va, n_candidates=search, seed=seed)

    pop = features[features["is_active"] == 1].reset_index(drop=True)
    with step("scoring", f"{len(pop):,} customers"):
        x_pop, _ = _xy(pop, exclude)
        p = model.predict_proba(x_pop)[:, 1]
    base_t = p_alive_baseline(pop)
    base_v = p_alive_baseline(val)
    base_cal = fit_calibrator(base_v.churn_score(), y_va, "platt", seed=seed)
    scores = pd.DataFrame(
        {
            "customer_id": pop["customer_id"].to_numpy(),
            "churn_probability": p,
            "churn_decile": risk_deciles(p),
            "p_alive": base_t.p_alive,
        }
    )

    res = StageResult()
    res.tables["churn_scores"] = scores
    res.models["churn"] = model
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
    base_cal_table = calibration_table(base_y, base_p)
    cal = calibration_table(cal_y, cal_p)
    res.tables["churn_calibration"] = cal.assign(source=cal_source)
    if figures_dir is not None:
        png = plot_calibration(
            {"churn model": cal, "1 − P(alive), Platt-calibrated": base_cal_table},
            Path(figures_dir) / "churn_calibration.png",
            title=f"Churn calibration on {cal_source} rows ({definition}, {horizon_months} months)",
        )
        res.documents["churn_figures.json"] = {"calibration": png.name}  # beside the document
    if model_path is not None:
        model.save(model_path)

    res.documents["churn_model.json"] = model.config()
    res.documents["churn_calibration.json"] = {
        "source": cal_source,
        "method": model.calibrator_.method,
        "reason": model.calibrator_.reason,
        "table": cal.to_dict(orient="records"),
    }
    sizes = {
        "train": len(y_tr),
        "validation": len(y_va),
        "test": int(sets["test"]["n"]) if "test" in sets else 0,
        "scored": len(scores),
    }
    res.documents["churn_metrics.json"] = {
        "split": split.to_dict(),
        "definition": definition,
        "inactivity_days": inactivity_days,
        "runoff_share": runoff_share if definition == "balance_runoff" else None,
        "sizes": sizes,
        "max_train_rows": max_train_rows,
        "held_out": cal_source,
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
    for name, values in sets.items():
        res.metrics.update(_prefixed(name, values))
    res.metrics.update({f"size.{k}": float(v) for k, v in sizes.items()})
    res.metrics["model.best_iteration"] = float(model.best_iteration_)
    res.metrics["split.out_of_time"] = float(split.mode == "out_of_time")
    res.metrics["horizon_months"] = float(split.horizon_months)
    return res
