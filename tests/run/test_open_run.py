"""``segml.open_run``: a finished run opened by id, prefix or "latest", its typed views checked
against the folder's files, and clear messages for an unknown id and a step the run skipped.

Fast tests build a run folder by hand (the files a run writes); one slow test opens a real
``segml run`` of the 600-customer bank (churn switched off) and its MLflow record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import segml
from segml.run.config import RunConfig
from segml.run.folder import NoRunFolderError, RunIdError, RunNotFoundError
from segml.run.open import FinishedRun, open_run
from segml.run.outcomes import Metrics, StepNotInRunError

RUN_ID = "abcdef1234567890abcdef1234567890"


def _fake_run(root: Path, run_id: str = RUN_ID, **config: object) -> Path:
    """A run folder as ``segml run`` leaves it, with CLV and tiers but no churn and no value."""
    cfg = RunConfig.model_validate({"name": "fake", "churn": {"enabled": False}, **config})
    folder = root / "data" / "processed" / "runs" / f"fake-{run_id[:12]}"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    run = {
        "run_id": run_id,
        "tracking_uri": "",
        "output_dir": str(folder),
        "data_dir": "/nowhere",
        "as_of": "2024-12-31",
        "status": "FINISHED",
        "metrics": {
            "clv.params.r": 0.5,
            "clv.params.alpha": 3.0,
            "clv.retries.spend": 0,
            "tiers.migration.psi": 0.02,
            "features.rows": 3,
        },  # fmt: skip
        "warnings": ["no value model: the history is too short to train"],
        "stage_seconds": {"clv": 1.5},
    }
    (folder / "run.json").write_text(json.dumps(run))
    ids = ["C1", "C2", "C3"]
    pd.DataFrame({"customer_id": ids, "is_active": [1, 1, 0]}).to_parquet(
        folder / "features.parquet"
    )
    pd.DataFrame({"customer_id": ids[:2], "p_alive": [0.9, 0.2], "clv": [10.0, 1.0]}).to_parquet(
        folder / "clv.parquet"
    )
    (folder / "clv_config.json").write_text(json.dumps({"model": "bgnbd"}))
    holdout = {"purchases": {"spearman": 0.7, "mae": 1.0},
               "spend": {"metrics": {"tweedie": {"spearman": 0.6, "mae": 2.0}}}}  # fmt: skip
    (folder / "clv_evaluation.json").write_text(json.dumps({"holdout": holdout}))
    tiers = pd.DataFrame({"customer_id": ids[:2], "value": [5.0, 1.0], "tier": ["a", "b"],
                          "tier_by_value": ["a", "b"]})  # fmt: skip
    tiers.to_parquet(folder / "tiers.parquet")
    pd.DataFrame({"tier": ["a", "b"], "customers": [1, 1]}).to_parquet(
        folder / "tier_table.parquet"
    )
    (folder / "tier_policy.json").write_text(
        json.dumps(
            {
                "name": "p",
                "version": "1",
                "tiers": ["a", "b"],
                "cutoffs": [0.5, 1.0],
                "kind": "rank",
                "loss_tier": None,
            }
        )  # fmt: skip
    )
    (folder / "tier_migration.json").write_text(
        json.dumps(
            {
                "from": "2023-12-31",
                "n_both": 2,
                "stay_rate": 1.0,
                "psi": 0.02,
                "psi_label": "stable",
            }
        )  # fmt: skip
    )
    return folder


def test_open_run_by_id_prefix_and_latest(tmp_path: Path) -> None:
    folder = _fake_run(tmp_path)
    run = open_run(RUN_ID, root=tmp_path)
    assert isinstance(run, FinishedRun) and run.path == folder
    assert open_run(RUN_ID[:8], root=tmp_path).run_id == RUN_ID
    assert open_run("latest", config=RunConfig(name="fake"), root=tmp_path).run_id == RUN_ID
    with pytest.raises(RunNotFoundError, match="no finished run of config 'default'.*'fake'"):
        open_run("latest", root=tmp_path)  # the default config's name: another config's run
    assert segml.open_run(RUN_ID, config=RunConfig(), root=tmp_path).run_id == RUN_ID
    assert run.name == "fake" and str(run.as_of) == "2024-12-31"
    assert run.status == "FINISHED"  # no store: run.json's status
    assert run.tracked is None
    assert run.warnings == ["no value model: the history is too short to train"]
    assert run.steps() == ["clv", "tiers"]
    assert "run abcdef123456 (fake, FINISHED)" in run.describe()


def test_typed_views_read_the_folders_files(tmp_path: Path) -> None:
    folder = _fake_run(tmp_path)
    run = open_run(RUN_ID, root=tmp_path)
    pd.testing.assert_frame_equal(run.features, pd.read_parquet(folder / "features.parquet"))
    assert list(run.active_features()["customer_id"]) == ["C1", "C2"]
    pd.testing.assert_frame_equal(run.clv.scores, pd.read_parquet(folder / "clv.parquet"))
    assert run.clv.model_name == "bgnbd"
    assert run.clv.params().to_dict() == {"r": 0.5, "alpha": 3.0}
    assert run.clv.checks().to_dict() == {"retries.spend": 0.0}
    holdout = run.clv.holdout()
    assert holdout.loc[("purchases", "bgnbd"), "spearman"] == 0.7
    assert holdout.loc[("spend", "tweedie"), "mae"] == 2.0
    pd.testing.assert_frame_equal(run.tiers, pd.read_parquet(folder / "tiers.parquet"))
    pd.testing.assert_frame_equal(run.tier_table, pd.read_parquet(folder / "tier_table.parquet"))
    assert run.tiering.labels == ["a", "b"] and run.tiering.policy().name == "p"
    migration = run.tiering.migration
    assert migration is not None and migration.psi == 0.02 and migration.earlier == "2023-12-31"
    assert run.stage_seconds == {"clv": 1.5}


def test_metrics_are_read_by_name(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    m = open_run(RUN_ID, root=tmp_path).metrics
    assert isinstance(m, Metrics) and "clv.params.r" in m and len(m) == 5
    assert m.get("clv.params.r") == 0.5 and m.get("churn.test.roc_auc") is None
    assert m.under("clv.params").to_dict() == {"r": 0.5, "alpha": 3.0}
    assert m.value("tiers.migration.psi") == 0.02
    with pytest.raises(KeyError, match=r"no metric 'clv.params.q'.*clv.params.r"):
        m.value("clv.params.q")
    assert not hasattr(m, "__getitem__")  # read by name, not indexed like a dict


def test_a_step_the_run_did_not_produce_says_why(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    run = open_run(RUN_ID, root=tmp_path)
    with pytest.raises(StepNotInRunError, match=r"has no churn results: churn.enabled is off"):
        _ = run.churn
    with pytest.raises(StepNotInRunError, match=r"no value results: the history is too short"):
        _ = run.value
    with pytest.raises(StepNotInRunError, match="no labels results") as exc:
        _ = run.labels
    assert exc.value.step == "labels"
    with pytest.raises(StepNotInRunError, match="has no explain results: the run has no value"):
        _ = run.explanations


def test_unknown_and_short_ids_are_refused_clearly(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    runs = tmp_path / "data" / "processed" / "runs"
    with pytest.raises(NoRunFolderError, match=f"no run folder for run ffffffffffff in {runs}"):
        open_run("ffffffffffff", root=tmp_path)
    with pytest.raises(RunIdError, match="too short") as exc:
        open_run("abc", root=tmp_path)
    assert isinstance(exc.value, ValueError)
    with pytest.raises(RunNotFoundError, match="no finished run"):
        open_run("latest", root=tmp_path / "empty")


@pytest.mark.slow  # a fresh interpreter importing segml: about 5 s on a busy machine
def test_import_segml_stays_light() -> None:
    code = (
        "import sys, segml\n"
        "assert 'segml.run.open' not in sys.modules and 'mlflow' not in sys.modules\n"
        "assert callable(segml.open_run) and 'segml.run.open' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=900)


@pytest.mark.slow
def test_a_real_run_opened_by_id_and_latest(
    small_bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segml.run.pipeline import run_pipeline

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = RunConfig.model_validate(
        {"name": "t", "seed": 5, "as_of": "2024-12-31",
         "data": {"source": "folder", "path": str(small_bank)},
         "churn": {"enabled": False}, "export": {"enabled": False},
         "grades": {"compare_model": False}, "tracking": {"experiment": "segml-test"}}
    )  # fmt: skip
    result = run_pipeline(cfg, tmp_path)
    run = open_run(result.run_id, config=cfg, root=tmp_path)
    latest = open_run("latest", config=cfg, root=tmp_path)
    assert latest.run_id == run.run_id == result.run_id
    folder = Path(result.output_dir)
    assert run.path == folder and run.status == "FINISHED"
    assert run.config == cfg and str(run.as_of) == "2024-12-31"
    assert run.metrics.to_dict() == pytest.approx(result.metrics, nan_ok=True)
    pd.testing.assert_frame_equal(run.features, pd.read_parquet(folder / "features.parquet"))
    pd.testing.assert_frame_equal(run.labels, pd.read_parquet(folder / "labels.parquet"))
    pd.testing.assert_frame_equal(run.clv.scores, pd.read_parquet(folder / "clv.parquet"))
    pd.testing.assert_frame_equal(run.tiers, pd.read_parquet(folder / "tiers.parquet"))
    pd.testing.assert_frame_equal(
        run.value.scores, pd.read_parquet(folder / "value_scores.parquet")
    )
    pd.testing.assert_frame_equal(
        run.reason_codes, pd.read_parquet(folder / "reason_codes.parquet")
    )
    assert run.clv.params().to_dict() == run.metrics.under("clv.params").to_dict()
    assert not run.clv.holdout().empty and run.clv.figures()
    assert run.segments.k == run.metrics.get("segments.k") == len(run.segments.profiles)
    assert len(run.value.candidates()) >= 1 and not run.value.test().empty
    assert set(run.explanations.examples(run.tiering.labels)["tier_by_value"]) <= set(
        run.tiering.labels
    )
    assert run.grades.comparison is None  # grades.compare_model is off
    with pytest.raises(StepNotInRunError, match="churn.enabled is off in the run's config"):
        _ = run.churn
    tracked = run.tracked
    assert tracked is not None and tracked.status == "FINISHED"
    assert {"clv", "value", "tiers"} <= set(
        tracked.stage_runs
    ) and "churn" not in tracked.stage_runs
