"""The run folder: one class writes it and reads it back (tables, documents, figures, config,
``run.json`` last), and a step's files read as a library outcome's outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segml.clv import ClvOutcome
from segml.outcome import InMemory, Outcome
from segml.run.folder import RunContents, RunFolder, RunNotFoundError, StepFiles


def _contents(tmp_path) -> RunContents:
    figures = tmp_path / "scratch" / "figures"
    (figures / "clv").mkdir(parents=True)
    (figures / "clv" / "value_deciles.png").write_bytes(b"\x89PNG")
    scratch_table = tmp_path / "scratch" / "big.parquet"
    pd.DataFrame({"customer_id": ["c1"], "x": [2.0]}).to_parquet(scratch_table)
    return RunContents(
        record={"run_id": "ab" * 16, "status": "FINISHED", "metrics": {"clv.params.r": 0.5,
                "clv.holdout.available": 1.0, "churn.test.roc_auc": 0.8}, "as_of": "2024-12-31"},
        config={"name": "t", "seed": 7},
        tables={"clv": pd.DataFrame({"customer_id": ["c1", "c2"], "clv": [1.0, np.nan]})},
        files={"big": scratch_table},
        arrow={"features": pa.table({"customer_id": ["c1"], "is_active": [1]})},
        documents={"clv_config.json": {"model": "pareto", "horizon_days": 365.0,
                                       "annual_discount_rate": 0.1}},
        figures=figures,
    )  # fmt: skip


def test_a_written_folder_reads_back_what_was_written(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    folder = RunFolder.write(out, _contents(tmp_path))
    assert folder.run_id == "ab" * 16 and folder.config == {"name": "t", "seed": 7}
    assert list(json.loads((out / "run.json").read_text())) == ["run_id", "status", "metrics", "as_of"]  # fmt: skip
    pd.testing.assert_frame_equal(
        folder.table("clv"), pd.DataFrame({"customer_id": ["c1", "c2"], "clv": [1.0, np.nan]})
    )
    assert folder.table("big")["x"].tolist() == [2.0]  # moved in, not copied
    assert not (tmp_path / "scratch" / "big.parquet").exists()
    assert folder.table("features")["is_active"].tolist() == [1]
    assert folder.json("clv_config")["model"] == "pareto" and folder.json("nothing") is None
    assert folder.figure("clv/value_deciles.png") is not None and folder.table("nothing") is None
    # a step's files are a library outcome's outputs: metrics without the step's prefix
    clv = ClvOutcome(StepFiles(folder, "clv"))
    assert clv.metrics.to_dict() == {"params.r": 0.5, "holdout.available": 1.0}
    assert clv.model_name == "pareto" and clv.scoring == (365.0, 0.1)
    assert [p.name for p in clv.figures()] == ["value_deciles.png"]
    assert "from a run folder" in repr(clv)


def test_a_folder_without_its_record_is_not_a_run(tmp_path):
    with pytest.raises(RunNotFoundError, match="has no run.json"):
        RunFolder(tmp_path)


def test_an_outcome_in_memory_reads_like_one_read_back(tmp_path):
    mem = InMemory(
        tables={"clv": pd.DataFrame({"customer_id": ["c1"]})},
        documents={"clv_config.json": {"model": "bgnbd"}},
        metrics={"params.r": 0.5},
    )
    out = ClvOutcome(mem, {"clv": "the model"})
    assert out.model == "the model" and out.model_name == "bgnbd"
    assert out.params().to_dict() == {"r": 0.5} and out.figures() == []
    assert out.deciles.empty and out.document("clv_evaluation") == {}
    assert isinstance(out, Outcome) and "in memory" in repr(out)
