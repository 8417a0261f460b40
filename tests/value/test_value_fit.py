"""The value score method as a library: :func:`segml.value.fit_value` on the small synthetic
bank, its typed outcome, and the same outcome read back from a run folder."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segml.data import load_bank
from segml.features import Snapshots
from segml.features.build import active
from segml.run.folder import RunFolder, StepFiles
from segml.tiers.policy import DEFAULT_POLICY
from segml.value import ValueOutcome, ValueScoreModel, ValueSettings, fit_value

AS_OF = dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def fitted(small_bank: Path) -> tuple[ValueOutcome, pd.DataFrame]:
    snaps = Snapshots(load_bank(small_bank))
    features = snaps.frame(AS_OF)
    labels = snaps.labels(AS_OF, 12)
    settings = ValueSettings(seed=3, depths=(2, 3), max_trees=60)
    return fit_value(snaps, features, labels, AS_OF, settings, policy=DEFAULT_POLICY), features


def test_fit_scores_the_active_and_its_views_agree_with_the_documents(fitted) -> None:
    out, features = fitted
    assert isinstance(out, ValueOutcome)
    pop = active(features)
    scores = out.scores
    assert scores["customer_id"].tolist() == pop["customer_id"].tolist()
    assert list(scores.columns) == ["customer_id", "value_score", "value_current", "value_change"]
    np.testing.assert_allclose(scores["value_change"], scores["value_score"] - scores["value_current"])  # fmt: skip
    assert isinstance(out.model, ValueScoreModel) and out.models() == {"value": out.model}
    np.testing.assert_array_equal(out.model.predict(pop), scores["value_score"])
    assert out.document("value_model") == out.model.to_dict()
    doc = out.document("value_metrics")
    assert (doc["train_as_of"], doc["predict_as_of"]) == ("2023-12-31", "2024-12-31")
    assert doc["n_train"] == doc["n_train_available"] > 0 and doc["n_scored"] == len(scores)
    m = out.metrics
    assert out.max_depth == doc["max_depth"] == m.value("model.max_depth") and out.max_depth in (2, 3)  # fmt: skip
    assert out.trees == int(doc["trees"]) == m.value("model.trees")
    row = out.validation().loc["model"]
    assert {k: row[k] for k in doc["validation"]} == doc["validation"]
    assert doc["validation"]["mae"] == m.value("validation.mae")
    cands = out.candidates()
    assert sorted(cands["max_depth"]) == [2, 3] and cands["chosen"].sum() == 1
    assert out.selection == out.document("value_selection")
    test = out.test()
    assert set(test.index) == {"test", "naive_profit_12m"}
    for name in test.index:
        for k, v in doc[name].items():
            if np.isfinite(v):
                assert m.value(f"{name}.{k}") == v == test.loc[name, k]
    assert m.value("test.n") == len(scores)
    assert out.load_model() is out.model
    # seed stability: the chosen model refitted with seed 4 scores alike, and tiers alike
    assert abs(m.value("stability.total_change")) < 0.05 and 0.9 < m.value("stability.spearman") < 1
    assert 0.8 < m.value("stability.tier_agreement") <= 1


def _as_run_folder(out: ValueOutcome, folder: Path) -> None:
    """Write an outcome held in memory as a run folder holds it (tables, documents, run.json)."""
    folder.mkdir()
    for name, table in out.outputs.tables.items():
        table.to_parquet(folder / f"{name}.parquet", index=False)
    for name, doc in out.outputs.documents.items():
        (folder / name).write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    metrics: dict[str, Any] = {f"value.{k}": v for k, v in out.outputs.metrics.items()}
    (folder / "run.json").write_text(json.dumps({"run_id": "e" * 32, "metrics": metrics}))


def test_the_outcome_reads_back_from_a_run_folder(fitted, tmp_path: Path) -> None:
    out, features = fitted
    _as_run_folder(out, tmp_path / "run")
    back = ValueOutcome(StepFiles(RunFolder(tmp_path / "run"), "value"))
    pd.testing.assert_frame_equal(back.scores, out.scores)
    assert back.metrics.to_dict() == out.metrics.to_dict()
    assert (back.max_depth, back.trees) == (out.max_depth, out.trees)
    pd.testing.assert_frame_equal(back.validation(), out.validation())
    pd.testing.assert_frame_equal(back.test(), out.test())
    np.testing.assert_allclose(back.model.predict(active(features)), out.scores["value_score"])
    assert back.load_model() is back.model


def test_fit_refuses_another_horizon(small_bank: Path) -> None:
    with pytest.raises(ValueError, match="must be 12, not 6"):
        fit_value(
            load_bank(small_bank), pd.DataFrame(), None, AS_OF, ValueSettings(horizon_months=6)
        )
