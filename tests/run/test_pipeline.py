"""`segml run`: the main job end to end, its MLflow tracking, failures and determinism."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from segml.compute import gpu_available
from segml.run.config import ConfigError, load_config, project_root
from support import make_project, segml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("proj")
    cfg = make_project(root)
    r = segml("run", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    return cfg, json.loads(r.stdout)


@pytest.mark.slow
def test_run_prints_one_json_object_with_where_things_are(first_run: tuple[Path, dict]) -> None:
    cfg, out = first_run
    assert {"run_id", "tracking_uri", "output_dir", "status"} <= set(out)
    root = cfg.parents[2]
    assert out["tracking_uri"] == f"sqlite:///{root / 'experiments' / 'mlflow.db'}"
    assert out["status"] == "FINISHED"
    assert Path(out["output_dir"]).is_relative_to(root / "data" / "processed" / "runs")
    for f in ("config.yaml", "validation.json", "data_profile.json", "run.json"):
        assert (Path(out["output_dir"]) / f).is_file(), f
    features = pd.read_parquet(Path(out["output_dir"]) / "features.parquet")
    labels = pd.read_parquet(Path(out["output_dir"]) / "labels.parquet")
    assert len(features) == 300 and features.customer_id.is_unique
    assert set(labels.customer_id) <= set(features.customer_id)
    assert out["metrics"]["labels.rows"] == len(labels) < len(features)
    tiers = pd.read_parquet(Path(out["output_dir"]) / "tiers.parquet")
    assert set(tiers.customer_id) == set(labels.customer_id)  # the active customers
    assert set(tiers.tier) <= {"most_important", "key", "ordinary", "small"}
    policy = json.loads((Path(out["output_dir"]) / "tier_policy.json").read_text())
    assert policy["name"] == "pyramid"
    assert 0.8 <= out["metrics"]["tiers.concentration.top_20pct_share"] <= 1.6
    grades = pd.read_parquet(Path(out["output_dir"]) / "grades.parquet")
    assert set(grades.customer_id) <= set(
        features.customer_id[features.customer_type == "corporate"]
    )
    assert {"grade", "score_total", "reasons"} <= set(grades.columns)
    segments = pd.read_parquet(Path(out["output_dir"]) / "segments.parquet")
    assert set(segments.customer_id) == set(labels.customer_id)
    assert segments.segment_name.nunique() == out["metrics"]["segments.k"]
    clv = pd.read_parquet(Path(out["output_dir"]) / "clv.parquet")
    assert set(clv.customer_id) == set(labels.customer_id)
    known = clv[clv["has_purchase_history"] == 1]
    assert known["p_alive"].between(0, 1).all() and (clv["clv"] >= 0).all()
    churn = pd.read_parquet(Path(out["output_dir"]) / "churn_scores.parquet")
    assert set(churn.customer_id) == set(labels.customer_id)
    assert churn["churn_probability"].between(0, 1).all()
    for key in ("clv.holdout.spend.probabilistic.spearman", "churn.test.roc_auc"):
        assert key in out["metrics"], key
    assert (Path(out["output_dir"]) / "figures" / "clv" / "p_alive.png").is_file()
    profile = json.loads((Path(out["output_dir"]) / "data_profile.json").read_text())
    assert profile["row_counts"]["customers"] == 300
    assert profile["history_months_to_as_of"] == 48
    assert profile["transactions_after_as_of"] > 0  # the label window exists in the data
    # the tiers rank the explained value score; every tiered customer has reason codes
    scores = pd.read_parquet(Path(out["output_dir"]) / "value_scores.parquet")
    assert (tiers.sort_values("customer_id").value.to_numpy()
            == scores.sort_values("customer_id").value_score.to_numpy()).all()  # fmt: skip
    reasons = pd.read_parquet(Path(out["output_dir"]) / "reason_codes.parquet")
    assert set(reasons.customer_id) == set(tiers.customer_id)
    assert reasons.reason_1.str.contains("to annual value").all()
    assert reasons.decision.str.startswith("annual value").all()
    contrib = pd.read_parquet(Path(out["output_dir"]) / "explanations_value.parquet")
    feats = contrib.columns.difference(["customer_id", "value_score", "base_value"])
    total = contrib.base_value + contrib[feats].sum(axis=1)
    assert ((total - contrib.value_score).abs() <= 1e-6 * contrib.value_score.abs().max()).all()
    assert out["metrics"]["explain.value.additivity_max_error"] >= 0
    assert 0 < out["metrics"]["explain.segments.surrogate_fidelity"] <= 1
    explain_figures = {p.name for p in (Path(out["output_dir"]) / "figures" / "explain").iterdir()}
    assert "value_score_beeswarm.png" in explain_figures


@pytest.mark.slow
def test_run_is_tracked_with_config_lineage_and_nested_stages(first_run: tuple[Path, dict]) -> None:
    _, out = first_run
    client = MlflowClient(out["tracking_uri"])
    run = client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["seed"] == "5"
    assert run.data.params["synthetic.customers"] == "300"
    assert run.data.tags["git_commit"]
    assert run.data.tags["version.mlflow"]
    assert run.data.metrics["stage_seconds.validate"] > 0
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{out['run_id']}'"
    )
    stages = {c.data.tags["segml.stage"]: c for c in children}
    assert set(stages) == {
        "data",
        "validate",
        "profile",
        "features",
        "labels",
        "clv",
        "churn",
        "tiers",
        "segments",
        "grades",
        "value",
        "explain",
        "export",
    }
    assert stages["churn"].data.metrics["test.roc_auc"] > 0
    # where the time went: each stage's steps, on its nested run and in run.json
    # (a bank validated earlier in the session is not checked again: its report is recorded)
    checked = "cached_validation" if stages["validate"].data.params["validation.cached"] == "True" else "table_transactions"  # fmt: skip
    for stage, name in [("validate", checked), ("clv", "supervised_spend"),
                        ("churn", "search_and_fit"), ("value", "selection"),
                        ("explain", "value_treeshap"), ("export", "log_and_register")]:  # fmt: skip
        assert stages[stage].data.metrics[f"seconds.{name}"] >= 0, (stage, name)
        assert out["step_seconds"][stage][name] >= 0, (stage, name)
    clv_figures = {a.path for a in client.list_artifacts(stages["clv"].info.run_id, "figures")}
    assert "figures/p_alive.png" in clv_figures
    assert stages["features"].data.metrics["rows"] == 300
    assert stages["features"].data.params["features_version"]
    assert all(c.info.status == "FINISHED" for c in children)
    assert stages["profile"].data.metrics["rows.customers"] == 300
    artifacts = {a.path for a in client.list_artifacts(out["run_id"])}
    assert {"config.json", "outputs"} <= artifacts
    # lineage: every contract table is an input of the run, with the digest of its file
    inputs = {d.dataset.name: d.dataset for d in run.inputs.dataset_inputs}
    assert {"customers", "accounts", "transactions", "balances"} <= set(inputs)
    from segml.run.lineage import file_digest

    tx = Path(out["data_dir"]) / "transactions.parquet"
    assert inputs["transactions"].digest == file_digest(tx)[:16]
    assert len(run.data.params["data.fingerprint"]) == 16


@pytest.mark.slow
def test_same_config_gives_identical_outputs_and_never_reads_ground_truth(
    first_run: tuple[Path, dict],
) -> None:
    """The second run of the config, with the bank's ground truth made unreadable: it finishes
    (the pipeline never opens that file) and writes the first run's outputs to the bit."""
    cfg, out = first_run
    gt = Path(out["data_dir"]) / "ground_truth.parquet"
    saved = gt.read_bytes()
    try:
        gt.write_bytes(b"not parquet: a pipeline that opens this file fails")
        r = segml("run", "--config", str(cfg), "--json")
    finally:
        gt.write_bytes(saved)
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["run_id"] != out["run_id"]
    for f in ("validation.json", "data_profile.json", "config.yaml"):
        a = (Path(out["output_dir"]) / f).read_text()
        b = (Path(again["output_dir"]) / f).read_text()
        assert a == b, f
    for f in ("features.parquet", "labels.parquet", "tiers.parquet", "tier_table.parquet",
              "value_scores.parquet", "reason_codes.parquet", "explanations_value.parquet"):  # fmt: skip
        a = pd.read_parquet(Path(out["output_dir"]) / f)
        b = pd.read_parquet(Path(again["output_dir"]) / f)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=f)  # to the bit


@pytest.mark.slow
def test_explain_prints_one_customers_tier_score_and_reason_codes(first_run) -> None:
    cfg, out = first_run
    reasons = pd.read_parquet(Path(out["output_dir"]) / "reason_codes.parquet")
    row = reasons.iloc[len(reasons) // 2]
    r = segml("explain", "--config", str(cfg), "--run-id", out["run_id"],
              "--customer", str(row.customer_id), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"tier", "score", "base_value", "contributions", "reason_codes"} <= set(d)
    assert d["tier"] == row.tier and d["score"] == pytest.approx(row.value_score)
    total = d["base_value"] + sum(d["contributions"].values())
    assert total == pytest.approx(d["score"], abs=1e-6 * max(1.0, abs(d["score"])) + 1e-3)
    assert d["reason_codes"] and d["reason_codes"][0] == row.reason_1
    assert d["thresholds"]["margin_below"] is None or d["thresholds"]["margin_below"] >= 0
    text = segml("explain", "--config", str(cfg), "--run-id", out["run_id"][:8],
                 "--customer", str(row.customer_id))  # fmt: skip
    assert text.returncode == 0 and row.reason_1 in text.stdout
    missing = segml("explain", "--config", str(cfg), "--run-id", out["run_id"],
                    "--customer", "no-such-customer")  # fmt: skip
    assert missing.returncode == 1 and "no-such-customer" in missing.stderr
    unknown = segml("explain", "--config", str(cfg), "--run-id", "ffffffffffff", "--customer", "1")
    assert unknown.returncode == 1 and "no run folder" in unknown.stderr


@pytest.mark.slow
def test_an_explanation_that_does_not_add_up_fails_the_run(first_run) -> None:
    cfg, out = first_run
    runs = Path(out["output_dir"]).parent
    before = set(runs.iterdir())
    # a tolerance below float32 rounding: xgboost's contributions can no longer pass
    r = segml("run", "--config", str(cfg), "--set", "explain.tolerance=1e-300")
    assert r.returncode == 1
    assert "does not add up" in r.stderr and "differ from the output" in r.stderr
    assert set(runs.iterdir()) == before  # no half-written outputs
    client = MlflowClient(out["tracking_uri"])
    failed = client.search_runs(
        [client.get_run(out["run_id"]).info.experiment_id],
        "tags.`segml.config_name` = 't' and attributes.status = 'FAILED'",
    )
    assert any("AdditivityError" in x.data.tags.get("error", "") for x in failed)


@pytest.mark.skipif(gpu_available(), reason="a GPU is present: the run would use it")
@pytest.mark.slow
def test_a_run_on_a_missing_gpu_stops_before_it_starts(first_run) -> None:
    cfg, out = first_run
    runs = Path(out["output_dir"]).parent
    before = set(runs.iterdir())
    client = MlflowClient(out["tracking_uri"])
    exp = client.get_run(out["run_id"]).info.experiment_id
    n_runs = len(client.search_runs([exp], max_results=1000))
    r = segml("run", "--config", str(cfg), "--set", "compute.device=cuda")
    assert r.returncode == 1
    assert "compute.device is 'cuda'" in r.stderr and "no usable CUDA GPU" in r.stderr
    r = segml("run", "--config", str(cfg), "--set", "value.device=cuda")  # the value model's own
    assert r.returncode == 1 and "value.device is 'cuda'" in r.stderr
    assert set(runs.iterdir()) == before  # nothing written
    assert len(client.search_runs([exp], max_results=1000)) == n_runs  # no run tracked


@pytest.mark.slow
def test_bad_data_fails_the_run_and_writes_no_outputs(
    first_run: tuple[Path, dict], tmp_path: Path
) -> None:
    cfg, out = first_run
    bad = tmp_path / "bad"
    shutil.copytree(out["data_dir"], bad)
    tx = pd.read_parquet(bad / "transactions.parquet")
    tx.loc[tx.index[:3], "amount"] = -1.0
    tx.to_parquet(bad / "transactions.parquet")
    runs = Path(out["output_dir"]).parent
    before = set(runs.iterdir())
    r = segml(
        "run", "--config", str(cfg), "--set", "data.source=folder", "--set", f"data.path={bad}"
    )
    assert r.returncode == 1
    assert "transactions.amount" in r.stderr and "(min)" in r.stderr
    assert set(runs.iterdir()) == before
    client = MlflowClient(out["tracking_uri"])
    latest = client.search_runs(
        [client.get_run(out["run_id"]).info.experiment_id],
        "tags.`segml.config_name` = 't' and attributes.status = 'FAILED'",
    )
    parents = [x for x in latest if "mlflow.parentRunId" not in x.data.tags]
    assert parents, "the failed run must be marked FAILED"
    assert "ContractError" in parents[0].data.tags["error"]


@pytest.mark.slow
def test_a_retail_only_bank_gets_every_model(first_run: tuple[Path, dict], tmp_path: Path) -> None:
    """No corporate customers: the corporate columns are empty, the grades comparison has no
    defaults to learn from; CLV, churn, value, explanations and export still run (tracked
    pseudonymised: MLflow's copy of the outputs carries no real customer id)."""
    cfg, out = first_run
    src, bank = Path(out["data_dir"]), tmp_path / "retail"
    bank.mkdir()
    customers = pd.read_parquet(src / "customers.parquet")
    keep = set(customers.loc[customers["customer_type"] == "retail", "customer_id"])
    accounts = pd.read_parquet(src / "accounts.parquet")
    accounts = accounts[accounts["customer_id"].isin(keep)]
    for table in ("customers", "transactions", "interactions", "corporate_financials"):
        df = pd.read_parquet(src / f"{table}.parquet")
        df[df["customer_id"].isin(keep)].to_parquet(bank / f"{table}.parquet", index=False)
    accounts.to_parquet(bank / "accounts.parquet", index=False)
    balances = pd.read_parquet(src / "balances.parquet")
    balances[balances["account_id"].isin(set(accounts["account_id"]))].to_parquet(
        bank / "balances.parquet", index=False
    )
    r = segml("run", "--config", str(cfg), "--json", "--set", "data.source=folder",
              "--set", f"data.path={bank}", "--set", f"as_of={out['as_of']}",
              "--set", "tracking.pseudonymize=true")  # fmt: skip
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert not [w for w in res["warnings"] if w.startswith("no ")], res["warnings"]
    assert any(w.startswith("grades: no scorecard-vs-model comparison") for w in res["warnings"])
    stages_with_results = {k.split(".")[0] for k in res["metrics"]}
    assert {"clv", "churn", "value", "explain", "export"} <= stages_with_results
    assert res["model"] is not None
    # pseudonymised: MLflow's copy of the outputs has no real customer id, the local one has
    client = MlflowClient(res["tracking_uri"])
    local = Path(client.download_artifacts(res["run_id"], "outputs/tiers.parquet", str(tmp_path)))
    logged = pd.read_parquet(local)
    real = pd.read_parquet(Path(res["output_dir"]) / "tiers.parquet")
    assert len(logged) == len(real) and logged.customer_id.is_unique
    assert not set(logged.customer_id) & set(real.customer_id)
    assert logged.customer_id.str.match(r"^p_[0-9a-f]{16}$").all()
    figures = client.list_artifacts(res["run_id"], "outputs/figures/explain")
    assert figures and not [f.path for f in figures if "_waterfall_" in f.path]


@pytest.mark.slow
def test_an_output_dir_that_cannot_take_the_outputs_stops_the_run_before_it_starts(
    first_run: tuple[Path, dict], tmp_path: Path
) -> None:
    cfg, out = first_run
    client = MlflowClient(out["tracking_uri"])
    exp = client.get_run(out["run_id"]).info.experiment_id
    n_runs = len(client.search_runs([exp], max_results=1000))
    a_file = tmp_path / "afile"
    a_file.write_text("hi")
    r = segml("run", "--config", str(cfg), "--set", f"output.dir={a_file}")
    assert r.returncode == 2 and f"output.dir {a_file} is a file, not a folder" in r.stderr
    bank = tmp_path / "bank"
    shutil.copytree(out["data_dir"], bank)
    before = sorted(p.name for p in bank.iterdir())
    inside = bank / "runs"  # a folder inside the bank's own folder
    r = segml("run", "--config", str(cfg), "--set", "data.source=folder",
              "--set", f"data.path={bank}", "--set", f"output.dir={inside}")  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert f"output.dir {inside} is inside the input folder" in r.stderr
    r = segml("run", "--config", str(cfg), "--set", "data.source=folder",
              "--set", f"data.path={bank}", "--set", f"data.mapping={tmp_path / 'map.yaml'}")  # fmt: skip
    assert r.returncode == 2 and "data.mapping: mapping file" in r.stderr, r.stderr
    assert sorted(p.name for p in bank.iterdir()) == before and a_file.read_text() == "hi"
    assert len(client.search_runs([exp], max_results=1000)) == n_runs  # no run tracked


def test_a_failed_run_withdraws_the_model_version_it_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segml.run.config import RunConfig
    from segml.run.tracking import tracked_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = RunConfig.model_validate({"name": "w", "tracking": {"experiment": "w", "uri": uri}})
    client = MlflowClient(uri)
    client.create_registered_model("m")
    kept = client.create_model_version("m", str(tmp_path))
    client.set_registered_model_alias("m", "champion", kept.version)
    with pytest.raises(OSError, match="disk full"), tracked_run(cfg, tmp_path) as tracker:
        made = client.create_model_version("m", str(tmp_path), run_id=tracker.run_id)
        client.set_registered_model_alias("m", "challenger", made.version)
        raise OSError("disk full")  # e.g. the outputs cannot be written after the export
    assert {mv.version for mv in client.search_model_versions("name = 'm'")} == {kept.version}
    assert client.get_registered_model("m").aliases == {"champion": kept.version}
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["segml.withdrawn_versions"] == f"m/{made.version}"


def test_a_model_stage_is_skipped_for_its_data_but_fails_the_run_for_a_defect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from segml.clv import SupervisedCLV
    from segml.run.config import RunConfig
    from segml.run.context import RunContext
    from segml.run.runner import Step, run_step
    from segml.run.tracking import tracked_run

    def too_little_history(_ctx: RunContext, _st: object) -> None:  # segml's own check of the data
        SupervisedCLV().fit(pd.DataFrame({"spend": np.arange(5.0)}), np.arange(5.0))

    def library_defect(_ctx: RunContext, _st: object) -> None:
        np.vectorize(len)([])  # numpy's own ValueError: not a property of the data

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = RunConfig.model_validate({"name": "m", "tracking": {"experiment": "m", "uri": uri}})
    with tracked_run(cfg, tmp_path) as tracker:
        ctx = RunContext(cfg, tmp_path, tracker, tmp_path)
        run_step(ctx, Step("value", too_little_history, model=True, collect=True))
        assert ctx.warnings == ["no value model: supervised CLV: 5 training rows; at least 20 "
                            "needed"] and not ctx.results  # fmt: skip
        with pytest.raises(ValueError, match="vectorize"):
            run_step(ctx, Step("clv", library_defect, model=True, collect=True))


@pytest.mark.slow
def test_tracking_uri_environment_variable_wins(tmp_path: Path) -> None:
    cfg = make_project(tmp_path / "p", customers=60)
    store = tmp_path / "bank_server.db"
    r = segml(
        "run", "--config", str(cfg), "--json", env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tracking_uri"] == f"sqlite:///{store}"
    assert MlflowClient(out["tracking_uri"]).get_run(out["run_id"]).info.status == "FINISHED"
    assert not (tmp_path / "p" / "experiments" / "mlflow.db").exists()


@pytest.mark.slow
def test_config_errors_name_the_key(tmp_path: Path) -> None:
    cfg = make_project(tmp_path)
    raw = yaml.safe_load(cfg.read_text())
    raw["synthetic"]["customers"] = "many"
    raw["synthetic"]["colour"] = "blue"
    cfg.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert "synthetic.customers" in str(err.value) and "synthetic.colour" in str(err.value)
    r = segml("run", "--config", str(cfg))
    assert r.returncode == 2 and "synthetic.colour" in r.stderr


def test_committed_configs_load_and_resolve_against_the_repo() -> None:
    for path in sorted((REPO / "experiments" / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.model_config["frozen"]
        assert project_root(path) == REPO
    default = load_config(REPO / "experiments" / "configs" / "default.yaml")
    assert default.data.source == "synthetic" and default.synthetic.customers >= 10_000


@pytest.mark.slow
def test_row_caps_bind_on_a_larger_bank_and_every_customer_is_still_served(
    tmp_path: Path,
) -> None:
    cfg = make_project(tmp_path, customers=700)
    doc = yaml.safe_load(cfg.read_text())
    doc["compute"] = {"threads": 1, "max_train_rows": 200, "cluster_rows": 150,
                      "export_check_rows": 60}  # fmt: skip
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    r = segml("run", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "  › search and fit (5 candidates, 200 rows)" in r.stderr  # progress on stderr
    folder = Path(out["output_dir"])
    active = set(pd.read_parquet(folder / "tiers.parquet").customer_id)
    assert len(active) > 200
    churn = json.loads((folder / "churn_metrics.json").read_text())
    assert churn["sizes"]["train"] == churn["sizes"]["validation"] == 200
    assert churn["sizes"]["scored"] == len(active)  # trained on a sample, scores everyone
    value = json.loads((folder / "value_metrics.json").read_text())
    assert value["n_train"] == 200 < value["n_train_available"]
    assert set(pd.read_parquet(folder / "segments.parquet").customer_id) == active
    assert set(pd.read_parquet(folder / "reason_codes.parquet").customer_id) == active
    scores = pd.read_parquet(folder / "scores.parquet")
    assert len(scores) == 60 and set(scores.customer_id) <= active
    assert out["metrics"]["export.tier_agreement_with_run"] == 1.0


def latest_parent(client: MlflowClient, exp: str, where: str):
    """The newest parent (not a stage) run of ``exp`` that matches ``where``."""
    runs = client.search_runs([exp], where, order_by=["start_time DESC"])
    return next(x for x in runs if "mlflow.parentRunId" not in x.data.tags)


@pytest.fixture()
def full_disk(tmp_path: Path):
    """A 256 KiB tmpfs: room to start a run's output folder, not to finish it (needs root)."""
    where = tmp_path / "full"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_fails_the_run_and_leaves_no_model_behind(
    first_run: tuple[Path, dict], full_disk: Path
) -> None:
    """The real path: the model is logged and registered under the export stage's nested run,
    then the outputs cannot be written; the version is withdrawn and no alias moves."""
    cfg, out = first_run
    client = MlflowClient(out["tracking_uri"], registry_uri=out["tracking_uri"])
    name = "segml-tiering"
    before = {mv.version for mv in client.search_model_versions(f"name = '{name}'")}
    aliases = client.get_registered_model(name).aliases
    stale = full_disk / f".t-0123.tmp-{2**22 + 7}-x"  # left by a killed run (no such pid)
    stale.mkdir()
    r = segml("run", "--config", str(cfg), "--json", "--set", f"output.dir={full_disk}",
              "--set", "churn.enabled=false", "--set", "explain.enabled=false")  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert f"cannot write {full_disk}/t-" in r.stderr and "No space left" in r.stderr
    assert "Traceback" not in r.stderr
    assert list(full_disk.iterdir()) == []  # no output folder, no temporary, stale one gone
    assert {mv.version for mv in client.search_model_versions(f"name = '{name}'")} == before
    assert client.get_registered_model(name).aliases == aliases
    exp = client.get_run(out["run_id"]).info.experiment_id
    parent = latest_parent(client, exp, "attributes.status = 'FAILED'")
    assert parent.data.tags["segml.withdrawn_versions"].startswith(f"{name}/")
    export = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent.info.run_id}' "
                                       "and tags.`segml.stage` = 'export'")  # fmt: skip
    assert export and export[0].info.status == "FINISHED"  # the model was logged there


@pytest.mark.slow
def test_sigterm_stops_segml_run_cleanly(first_run: tuple[Path, dict]) -> None:
    cfg, out = first_run
    runs = Path(out["output_dir"]).parent
    before = set(runs.iterdir())
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)}
    proc = subprocess.Popen([sys.executable, "-m", "segml", "run", "--config", str(cfg)],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("· profiling"):  # the run is tracked and working
            proc.send_signal(signal.SIGTERM)
            break
    _, rest = proc.communicate()
    err = "".join(seen) + rest
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert set(runs.iterdir()) == before
    client = MlflowClient(out["tracking_uri"])
    exp = client.get_run(out["run_id"]).info.experiment_id
    parent = latest_parent(client, exp, "tags.`segml.config_name` = 't'")
    assert parent.info.status == "FAILED" and "SIGTERM" in parent.data.tags["segml.killed"]


@pytest.mark.slow
def test_a_run_name_that_leaves_the_output_folder_is_refused(first_run, tmp_path) -> None:
    cfg, out = first_run
    runs = Path(out["output_dir"]).parent
    before = set(runs.iterdir())
    r = segml("run", "--config", str(cfg), "--set", "name=../../raw/synthetic/x")
    assert r.returncode == 2 and "is not a plain run name" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and set(runs.iterdir()) == before
    for name in ("/tmp/x", "a/b", "..", "x\\y", ".hidden", "a..b", "", "x" * 101):
        with pytest.raises(ConfigError, match="is not a plain run name"):
            load_config(cfg, {"name": name})
    assert load_config(cfg, {"name": "q3-2026_retail.v2"}).name == "q3-2026_retail.v2"


@pytest.mark.slow
def test_contract_errors_reach_mlflow_pseudonymised(first_run, tmp_path) -> None:
    cfg, out = first_run
    bad = tmp_path / "bad"
    shutil.copytree(out["data_dir"], bad)
    tx = pd.read_parquet(bad / "transactions.parquet")
    tx.loc[tx.index[:3], "amount"] = -1.0
    tx.to_parquet(bad / "transactions.parquet")
    raw = {f"transaction_id={v}" for v in tx.loc[tx.index[:3], "transaction_id"]}
    r = segml("run", "--config", str(cfg), "--set", "data.source=folder",
              "--set", f"data.path={bad}", "--set", "tracking.pseudonymize=true")  # fmt: skip
    assert r.returncode == 1 and "transactions.amount" in r.stderr
    assert any(v in r.stderr for v in raw)  # the user's own terminal names the real rows
    client = MlflowClient(out["tracking_uri"])
    exp = client.get_run(out["run_id"]).info.experiment_id
    parent = latest_parent(client, exp, "attributes.status = 'FAILED'")
    logged = [parent.data.tags["error"]]
    logged.append(Path(client.download_artifacts(parent.info.run_id, "error.txt", str(tmp_path))).read_text())  # fmt: skip
    for child in client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"):
        logged += [child.data.tags.get("error", "")]
    text = "\n".join(logged)
    assert "transactions.amount" in text and "transaction_id=p_" in text
    assert not [v for v in raw if v in text]
