"""Cross-validate the churn model on any customer snapshot table: :func:`train_table`.

Each outer fold (stratified, seeded) fits a fresh :class:`~segml.churn.model.ChurnModel` on
the other folds only — its column encodings, its early stopping and its calibration come from
an inner validation split of those training rows — and scores the held-out fold. Means, spreads
and per-fold values of every metric come back in one :class:`TableTrainResult`, with the
column report and the target mapping.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segml.churn.metrics import classification_metrics
from segml.churn.model import ChurnModel
from segml.churn.search import fit_best
from segml.churn.tabular import TabularEncoder, binary_target

__all__ = ["SUMMARY_METRICS", "TableTrainResult", "fit_table_model", "train_table"]

#: Metrics averaged over the folds.
SUMMARY_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top10", "capture_top10", "ece")
#: A single column whose own AUC on the whole table reaches this may leak the target.
LEAK_AUC = 0.98


@dataclass(frozen=True)
class TableTrainResult:
    """Cross-validated quality of the churn model on one table.

    Attributes
    ----------
    source : str
        The table (file name).
    id_col : str
        Identifier column (never a feature).
    target : dict
        Target column, positive class, how it was read.
    n_rows, n_used, positives : int
        Rows read, rows with a target, positives among them.
    cv, seed, search : int
        Folds, seed, random search candidates per fold.
    means, stds : dict of str to float
        Mean and standard deviation over the folds of :data:`SUMMARY_METRICS`.
    roc_auc_pooled : float
        AUC of all out-of-fold predictions together.
    folds : list of dict
        Per fold: rows, positives, metrics, best iteration, calibration and chosen parameters.
    columns : list of dict
        What happened to every column (``column``, ``role``, ``detail``).
    warnings : list of str
        Dropped rows, duplicate ids, possible leaks.
    seconds : float
        Wall time.
    """

    source: str
    id_col: str
    target: dict[str, Any]
    n_rows: int
    n_used: int
    positives: int
    cv: int
    seed: int
    search: int
    means: dict[str, float]
    stds: dict[str, float]
    roc_auc_pooled: float
    folds: list[dict[str, Any]] = field(default_factory=list)
    columns: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """One JSON object: the mean metrics at the top level, then the details."""
        d = asdict(self)
        top = {k: self.means[k] for k in SUMMARY_METRICS}
        top |= {f"{k}_std": self.stds[k] for k in SUMMARY_METRICS}
        return {**top, **{k: v for k, v in d.items() if k not in ("means", "stds")}}

    def summary(self) -> str:
        """A few lines for people."""
        m, s = self.means, self.stds
        lines = [
            f"{self.source}: {self.n_used:,} rows, {self.positives:,} positive "
            f"({self.target['column']} = {self.target['positive']!r}), {self.cv}-fold CV",
            f"ROC AUC {m['roc_auc']:.4f} ± {s['roc_auc']:.4f}   PR AUC {m['pr_auc']:.4f} ± "
            f"{s['pr_auc']:.4f}   Brier {m['brier']:.4f}   log loss {m['log_loss']:.4f}   "
            f"lift@10% {m['lift_top10']:.2f}",
        ]
        used = [c for c in self.columns if c["role"] != "dropped"]
        dropped = [c for c in self.columns if c["role"] == "dropped"]
        lines.append(f"columns used: {len(used)}; dropped: {len(dropped)}")
        lines += [f"  dropped {c['column']}: {c['detail']}" for c in dropped]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _check_columns(
    df: pd.DataFrame, source: str, id_col: str, target: str, drop: Sequence[str]
) -> None:
    shown = ", ".join(map(str, list(df.columns)[:20]))
    for what, col in (("id", id_col), ("target", target)):
        if col not in df.columns:
            raise ValueError(f"{source} has no {what} column {col!r} (columns: {shown})")
    if id_col == target:
        raise ValueError(f"the id and target columns are both {id_col!r}")
    missing = [c for c in drop if c not in df.columns]
    if missing:
        raise ValueError(f"--drop names column(s) {source} does not have: {missing}")
    if target in drop or id_col in drop:
        raise ValueError("--drop must not name the id or target column")


def _leaks(x: pd.DataFrame, y: np.ndarray, enc: TabularEncoder) -> list[str]:
    out = []
    frame = enc.transform(x)
    for c in frame.columns:
        if c.endswith("__target"):  # in-sample target means: high AUC by construction
            continue
        v = frame[c]
        if isinstance(v.dtype, pd.CategoricalDtype):
            v = pd.Series(v.cat.codes, index=v.index).where(v.notna())
        v = v.to_numpy(dtype=float)
        ok = np.isfinite(v)
        if ok.sum() < 10 or len(np.unique(y[ok])) < 2:
            continue
        auc = classification_metrics(y[ok], v[ok])["roc_auc"]
        if max(auc, 1 - auc) >= LEAK_AUC:
            out.append(
                f"column {c!r} alone separates the target (AUC {max(auc, 1 - auc):.3f}): "
                "check that it is known before the outcome (drop it with --drop if not)"
            )
    return out


def train_table(
    df: pd.DataFrame,
    id_col: str,
    target: str,
    positive: str | None = None,
    drop: Sequence[str] = (),
    cv: int = 5,
    seed: int = 0,
    search: int = 0,
    source: str = "table",
    model_params: dict[str, Any] | None = None,
) -> TableTrainResult:
    """Cross-validate :class:`ChurnModel` on a customer table.

    Parameters
    ----------
    df : DataFrame
        One row per customer: an id, a target and any feature columns.
    id_col, target : str
        Identifier and target columns.
    positive : str, optional
        Positive class of the target (see :func:`~segml.churn.tabular.binary_target`).
    drop : sequence of str
        Columns not to use.
    cv : int
        Outer folds (at least 2).
    seed : int
        Seeds folds, models and search.
    search : int
        Random hyper-parameter candidates per fold besides the defaults, judged on each
        fold's inner validation split.
    source : str
        Name of the table in messages.
    model_params : dict, optional
        Overrides of :class:`ChurnModel` defaults.

    Raises
    ------
    ValueError
        Naming the table and column: a missing column, a target with one class or an unknown
        positive class, too few rows of a class for the folds, no usable column.
    """
    from sklearn.model_selection import StratifiedKFold

    start = time.perf_counter()
    _check_columns(df, source, id_col, target, drop)
    if cv < 2:
        raise ValueError(f"--cv must be at least 2, got {cv}")
    warnings: list[str] = []
    has_target = df[target].notna().to_numpy()
    if not has_target.all():
        warnings.append(f"{int((~has_target).sum()):,} rows without a target were left out")
    data = df.loc[has_target].reset_index(drop=True)
    if data.empty:
        raise ValueError(f"{source}: target column {target!r} is empty")
    try:
        y, info = binary_target(data[target], positive, target)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < 2 * cv:
        raise ValueError(
            f"{source}: target column {target!r} has only {minority} rows of its rarer class; "
            f"{cv}-fold cross-validation with inner validation needs at least {2 * cv}"
        )
    dups = int(data[id_col].duplicated().sum())
    if dups:
        warnings.append(f"{dups:,} rows repeat an id of {id_col!r}: rows are treated as customers")
    x = data.drop(columns=[id_col, target, *drop])
    params = {**(model_params or {}), "exclude": ()}
    enc = TabularEncoder(random_state=seed).fit(x, y)
    columns = [
        *[{"column": id_col, "role": "dropped", "detail": "the id column"}],
        *[{"column": c, "role": "dropped", "detail": "dropped by --drop"} for c in drop],
        *enc.report_,
    ]
    if not enc.columns_:
        why = "; ".join(f"{c}: {r}" for c, r in enc.dropped().items())
        raise ValueError(f"{source}: no usable feature column ({why})")
    warnings += _leaks(x, y, enc)

    folds, oof = [], np.zeros(len(y))
    splitter = StratifiedKFold(cv, shuffle=True, random_state=seed)
    for i, (fit_idx, test_idx) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
        model, trials = fit_best(
            x.iloc[fit_idx], y[fit_idx], n_candidates=search, seed=seed, base=params
        )
        p = model.predict_proba(x.iloc[test_idx])[:, 1]
        oof[test_idx] = p
        chosen = next(t["params"] for t in trials if t["selected"])
        folds.append(
            {
                "fold": i,
                "n_train": len(fit_idx),
                "n_test": len(test_idx),
                **{k: v for k, v in classification_metrics(y[test_idx], p).items() if k != "n"},
                "best_iteration": model.best_iteration_,
                "calibration": model.calibrator_.method,
                "calibration_reason": model.calibrator_.reason,
                "params": chosen,
            }
        )
    means = {k: float(np.mean([f[k] for f in folds])) for k in SUMMARY_METRICS}
    stds = {k: float(np.std([f[k] for f in folds], ddof=1)) for k in SUMMARY_METRICS}
    return TableTrainResult(
        source=source,
        id_col=id_col,
        target=info,
        n_rows=len(df),
        n_used=len(y),
        positives=int(y.sum()),
        cv=cv,
        seed=seed,
        search=search,
        means=means,
        stds=stds,
        roc_auc_pooled=classification_metrics(y, oof)["roc_auc"],
        folds=folds,
        columns=columns,
        warnings=warnings,
        seconds=time.perf_counter() - start,
    )


def fit_table_model(
    df: pd.DataFrame,
    id_col: str,
    target: str,
    positive: str | None = None,
    drop: Sequence[str] = (),
    seed: int = 0,
    search: int = 0,
) -> ChurnModel:
    """Fit the final model on every row with a target (for saving after cross-validation)."""
    data = df.loc[df[target].notna()].reset_index(drop=True)
    y, _ = binary_target(data[target], positive, target)
    x = data.drop(columns=[id_col, target, *drop])
    model, _ = fit_best(x, y, n_candidates=search, seed=seed)
    return model
