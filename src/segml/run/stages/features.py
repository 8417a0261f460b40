"""The features step of ``segml run`` and the snapshots later steps join or compare with."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segml.data import BankData
from segml.features.snapshots import Snapshots
from segml.run.config import RunConfig
from segml.run.stages.base import StageResult

__all__ = [
    "PREDICTION_TABLES",
    "run_snapshots",
    "earlier_features",
    "features_stage",
    "label_metrics",
    "with_predictions",
]


def run_snapshots(bank: BankData, cfg: RunConfig, store: Path | None = None) -> Snapshots:
    """The run's :class:`~segml.features.snapshots.Snapshots`: its feature configuration and
    engine, for every step that builds features or labels (``store``: the folder that keeps
    the tables on disk, memory-mapped when read)."""
    feats = cfg.features
    return Snapshots(bank, feats.feature_config(), engine=feats.engine,
                     spark_master=feats.spark_master, store=store)  # fmt: skip


def features_stage(bank: BankData, as_of: dt.date, cfg: RunConfig) -> pa.Table:
    """The feature table at ``as_of`` on the configured engine."""
    return run_snapshots(bank, cfg).features(as_of)


def label_metrics(labels: pa.Table) -> dict[str, float]:
    """Size and base rates of the label table."""
    churned = pc.mean(labels["churned"]).as_py() if labels.num_rows else 0.0
    return {"labels.rows": labels.num_rows, "labels.churn_rate": churned or 0.0}


def earlier_features(
    snaps: Snapshots, as_of: dt.date, months: int
) -> tuple[dt.date | None, pd.DataFrame | None]:
    """Features ``months`` (``tiers.migration_months``) before ``as_of``, if the history
    reaches a year before that date (else ``(None, None)``)."""
    if not months:
        return None, None
    earlier = snaps.months_before(as_of, months)
    if not snaps.reaches_back(earlier, 12):
        return None, None  # less than a year of history before the earlier date
    return earlier, snaps.frame(earlier)


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
