"""Building blocks of ``segml run`` (:mod:`segml.pipeline`): the data and features stages,
earlier snapshots, joining predictions, and the runner that tracks a model stage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import warnings as pywarnings
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segml.config import RunConfig
from segml.data import BankData
from segml.features import build_features
from segml.features.spec import add_months
from segml.stages import StageResult
from segml.synth import GENERATOR_VERSION, MANIFEST, SynthConfig, generate
from segml.tracking import StageRun, Tracker

__all__ = [
    "PREDICTION_TABLES",
    "collect_warnings",
    "earlier_features",
    "exported_model",
    "features_stage",
    "label_metrics",
    "log_stage",
    "model_stage",
    "prepare_synthetic",
    "synthetic_folder",
    "with_predictions",
]

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep


# ----------------------------------------------------------------------------- stage: data
def synthetic_folder(cache_dir: Path, synth: SynthConfig) -> Path:
    """The cache folder of one synthetic bank (its name carries a digest of the config)."""
    key = json.dumps({**asdict(synth), "v": GENERATOR_VERSION}, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return cache_dir / f"bank_n{synth.customers}_seed{synth.seed}_{digest}"


def prepare_synthetic(cache_dir: Path, synth: SynthConfig) -> tuple[Path, bool]:
    """Generate the synthetic bank unless an identical one is cached; return (folder, generated)."""
    folder = synthetic_folder(cache_dir, synth)
    if (folder / MANIFEST).is_file():
        return folder, False
    generate(synth, folder, overwrite=folder.exists())
    return folder, True


# ----------------------------------------------------------------------------- stage: features
def features_stage(bank: BankData, as_of: dt.date, cfg: RunConfig) -> pa.Table:
    """The feature table at ``as_of`` on the configured engine."""
    bank.engine, bank.spark_master = cfg.features.engine, cfg.features.spark_master
    return build_features(bank, as_of, cfg.features.feature_config())


def label_metrics(labels: pa.Table) -> dict[str, float]:
    """Size and base rates of the label table."""
    churned = pc.mean(labels["churned"]).as_py() if labels.num_rows else 0.0
    return {"labels.rows": labels.num_rows, "labels.churn_rate": churned or 0.0}


def earlier_features(
    bank: BankData, as_of: dt.date, cfg: RunConfig, history_start: dt.date | None
) -> tuple[dt.date | None, pd.DataFrame | None]:
    """Features ``tiers.migration_months`` before ``as_of``, if the history reaches back that far."""
    months = cfg.tiers.migration_months
    if not months:
        return None, None
    earlier = add_months(as_of + dt.timedelta(days=1), -months) - dt.timedelta(days=1)
    if history_start is None or history_start > add_months(earlier, -12):
        return None, None  # less than a year of history before the earlier date
    return earlier, build_features(bank, earlier, cfg.features.feature_config()).to_pandas()


#: Per-customer predictions joined onto the feature table for the later stages (e.g. a tier
#: policy on predicted value: ``tiers.value: clv``).
PREDICTION_TABLES = {"clv": "clv", "churn": "churn_scores", "value": "value_scores"}


def with_predictions(frame: pd.DataFrame, results: dict[str, StageResult]) -> pd.DataFrame:
    """The feature table with the CLV and churn stages' per-customer columns added."""
    for stage, table in PREDICTION_TABLES.items():
        res = results.get(stage)
        if res is None or table not in res.tables:
            continue
        pred = res.tables[table]
        new = [c for c in pred.columns if c not in frame.columns]
        frame = frame.merge(pred[["customer_id", *new]], on="customer_id", how="left")
    return frame


@contextlib.contextmanager
def collect_warnings(into: list[str], stage: str) -> Iterator[None]:
    """Add the warnings segml itself raises inside the block to ``into`` (once each)."""
    with pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always")
        yield
    for w in caught:
        if is_segml_file(str(w.filename)):
            text = f"{stage}: {w.message}"
            if text not in into:
                into.append(text)
        else:  # not ours: show it as Python would have
            pywarnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def model_stage(
    tracker: Tracker,
    name: str,
    compute: Callable[[Path], StageResult],
    figures: Path,
    warnings: list[str],
    results: dict[str, StageResult],
) -> None:
    """Run a model stage as nested run ``name``; its figures go to ``figures/name``.

    A ``ValueError`` raised by segml's own checks (e.g. too little history before the as-of
    date to train on) skips the stage with a warning instead of failing the run; one raised
    inside a library (xgboost, numpy, ...) is a defect, not a property of the data, and fails
    the run. segml's own warnings are collected.
    """
    with tracker.stage(name) as st:
        try:
            with collect_warnings(warnings, name):
                res = compute(figures / name)
        except ValueError as exc:
            if not raised_by_segml(exc):
                raise
            warnings.append(f"no {name} model: {exc}")
            st.params({"skipped": str(exc)[:500]})
            return
        results[name] = res
        log_stage(st, res)
        st.figures(figures / name)


def raised_by_segml(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is segml's own code."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and is_segml_file(last.tb_frame.f_code.co_filename)


def is_segml_file(filename: str) -> bool:
    """Whether ``filename`` is a module of the segml package (not a library, not a test)."""
    return os.path.realpath(filename).startswith(_PACKAGE_DIR)


def log_stage(st: StageRun, res: StageResult) -> None:
    """Log a stage's metrics, documents and table sizes to its nested run."""
    st.metrics(res.metrics)
    for name, doc in res.documents.items():
        st.json(doc, name)
    st.metrics({f"rows.{k}": len(v) for k, v in res.tables.items()})
    st.metrics({f"rows.{k}": pq.ParquetFile(p).metadata.num_rows for k, p in res.files.items()})


def exported_model(results: dict[str, StageResult]) -> dict[str, str] | None:
    """URI, name, version and alias of the model the export stage registered."""
    if "export" not in results:
        return None
    info = results["export"].documents["model_info.json"]
    return {k: str(info[k]) for k in ("model_uri", "name", "version", "alias", "run_id")}
