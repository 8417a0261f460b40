"""The runner of ``segml run`` on fake steps, in process (Kedro style): order, skip rules,
warnings, tracking and the output folder, without fitting a single model.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from segml.run.config import RunConfig
from segml.run.context import RunContext
from segml.run.pipeline import run_pipeline
from segml.run.runner import Step, check_table, run_steps
from segml.run.stages.base import StageResult
from segml.run.steps import STEPS
from segml.run.tracking import tracked_run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MLflow store for the module (its schema is made once)."""
    return tmp_path_factory.mktemp("runner")


@pytest.fixture()
def cfg(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunConfig:
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    return RunConfig.model_validate(
        {
            "name": "fake",
            "tracking": {"experiment": "fake", "uri": uri},
            "output": {"dir": str(tmp_path / "runs")},
        }  # fmt: skip
    )


def _table(step: str) -> StageResult:
    res = StageResult()
    res.tables[f"{step}_table"] = pd.DataFrame({"customer_id": ["a", "b"], step: [1.0, 2.0]})
    res.documents[f"{step}.json"] = {"step": step}
    res.metrics["rows"] = 2.0
    return res


def _fake_steps(seen: list[str]) -> tuple[Step, ...]:
    def make(name: str):  # a step that records it ran and hands back a small result
        def run(ctx: RunContext, _st: object) -> StageResult:
            seen.append(name)
            return _table(name)

        return run

    def refuses(_ctx: RunContext, _st: object) -> None:
        from segml.clv import SupervisedCLV  # segml's own check of the data refuses them

        SupervisedCLV().fit(pd.DataFrame({"spend": [1.0, 2.0]}), [1.0, 2.0])

    def warns(ctx: RunContext, _st: object) -> StageResult:
        seen.append("warns")
        for _ in range(2):  # as if raised inside segml: collected once
            warnings.warn_explicit("careful", UserWarning, _segml_file(), 1)
        return _table("warns")

    return (
        Step("first", make("first"), makes=("thing",), says=lambda _: "first step"),
        Step("model", refuses, model=True, collect=True),
        Step("off", make("off"), when=lambda _: False, skipped=lambda _: "off: not today"),
        Step("silent", make("silent"), when=lambda _: False),
        Step("second", make("second"), needs=("thing", "first", "model")),
        Step("untracked", make("untracked"), tracked=False),
        Step("warns", warns, collect=True),
    )


def test_steps_run_in_order_and_each_rule_holds(cfg: RunConfig, tmp_path: Path) -> None:
    seen: list[str] = []
    said: list[str] = []
    with tracked_run(cfg, tmp_path) as tracker:
        ctx = RunContext(cfg, tmp_path, tracker, tmp_path / "scratch", say=said.append)
        run_steps(ctx, _fake_steps(seen))
        children = MlflowClient(tracker.tracking_uri).search_runs(
            [tracker.experiment_id], f"tags.mlflow.parentRunId = '{tracker.run_id}'"
        )
    assert seen == ["first", "second", "untracked", "warns"]
    assert said == ["first step"]
    assert set(ctx.results) == {"first", "second", "untracked", "warns"}  # the refused model: none
    assert ctx.warnings[0].startswith("no model model: supervised CLV: 2 training rows")
    assert ctx.warnings[1:] == ["off: not today", "warns: careful"]  # a silent skip: nothing
    names = {r.data.tags["mlflow.runName"]: r for r in children}
    assert set(names) == {"first", "model", "second", "warns"}  # untracked: on the parent run
    assert names["model"].data.params["skipped"].startswith("supervised CLV")
    assert names["first"].data.metrics["rows"] == 2.0
    assert names["first"].data.metrics["rows.first_table"] == 2.0


def test_a_library_error_fails_the_run_and_its_step(cfg: RunConfig, tmp_path: Path) -> None:
    def defect(_ctx: RunContext, _st: object) -> None:
        import numpy as np

        np.vectorize(len)([])  # numpy's own ValueError: a defect, not the data

    with pytest.raises(ValueError, match="vectorize"), tracked_run(cfg, tmp_path) as tracker:
        run_steps(RunContext(cfg, tmp_path, tracker, tmp_path), (Step("m", defect, model=True),))
    run = MlflowClient(tracker.tracking_uri).get_run(tracker.run_id)
    assert run.info.status == "FAILED"


def test_segml_warnings_are_collected_once_and_others_pass_through(
    cfg: RunConfig, tmp_path: Path
) -> None:
    from segml.run.runner import collect_warnings

    into: list[str] = []
    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        with collect_warnings(into, "step"):
            for _ in range(2):
                warnings.warn_explicit("ours", UserWarning, _segml_file(), 1)
            warnings.warn("theirs", UserWarning, stacklevel=1)
    assert into == ["step: ours"]
    assert [str(w.message) for w in outside] == ["theirs"]


def _segml_file() -> str:
    import segml.tiers.assign as module

    return module.__file__


def test_a_table_that_reads_what_nothing_made_is_refused() -> None:
    noop = lambda _ctx, _st: None  # noqa: E731
    with pytest.raises(ValueError, match=r"step 'b' needs \['x'\], which no earlier step makes"):
        check_table((Step("a", noop), Step("b", noop, needs=("x",)), Step("c", noop, makes=("x",))))  # fmt: skip
    with pytest.raises(ValueError, match="step 'a' is declared twice"):
        check_table((Step("a", noop), Step("a", noop)))


def test_the_run_table_is_well_formed() -> None:
    check_table(STEPS)
    names = [s.name for s in STEPS]
    assert names[:6] == ["data", "validate", "lineage", "profile", "features", "labels"]
    assert names.index("tiers") > max(names.index(m) for m in ("clv", "churn", "value"))
    assert names[-2:] == ["explain", "export"]
    assert {s.name for s in STEPS if s.model} == {"clv", "churn", "value"}


def test_run_pipeline_writes_what_the_steps_made(cfg: RunConfig, tmp_path: Path) -> None:
    seen: list[str] = []
    result = run_pipeline(cfg, tmp_path, steps=_fake_steps(seen))
    out = Path(result.output_dir)
    assert out.parent == tmp_path / "runs" and out.name == f"fake-{result.run_id[:12]}"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "config.yaml",
            "run.json",
            "first.json",
            "first_table.parquet",
            "second.json",
            "second_table.parquet",
            "untracked.json",
            "untracked_table.parquet",
            "warns.json",
            "warns_table.parquet",
        ]  # fmt: skip
    )  # no features, labels or profile: this table made none
    run = json.loads((out / "run.json").read_text())
    assert run["metrics"] == {"first.rows": 2.0, "second.rows": 2.0, "untracked.rows": 2.0,
                              "warns.rows": 2.0}  # fmt: skip
    assert list(run["stage_seconds"]) == ["first", "model", "second", "warns"]
    memory = run["stage_memory_mb"]  # each stage's own peak beside where it ended
    assert list(memory) == list(run["stage_seconds"])
    assert all(m["peak"] >= m["end"] > 0 and m["peak_so_far"] > 0 for m in memory.values())
    assert all(set(m["steps"]) == set(run["step_seconds"].get(s, {})) for s, m in memory.items())
    assert run["warnings"][1] == "off: not today"
    pd.testing.assert_frame_equal(pd.read_parquet(out / "second_table.parquet"), _table("second").tables["second_table"])  # fmt: skip
    status = MlflowClient(result.tracking_uri).get_run(result.run_id).info.status
    assert status == "FINISHED"
