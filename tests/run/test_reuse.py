"""``segml run --reuse`` (what ``make demo`` runs): an unchanged config on unchanged data
reuses its finished run — same run id, no new MLflow run, no new registered version, no new
folder — while a changed config, another tracking store or changed data do not
(:mod:`segml.run.reuse`). Each real run costs about 20 s, so there are two."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from segml.run.config import load_config
from segml.run.reuse import find_reusable_run, folder_fingerprint
from support import NO_STORE_ENV, make_project, segml, strict_json

MODEL = "segml-tiering"


def _store(root: Path) -> MlflowClient:
    uri = f"sqlite:///{root / 'experiments' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _parent_runs(client: MlflowClient) -> list[str]:
    exps = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(exps, max_results=1000)
    return sorted(r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags)


def _versions(client: MlflowClient) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))


@pytest.fixture()
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in NO_STORE_ENV:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A finished run of a 300-customer synthetic config, made by ``--reuse`` (none to reuse)."""
    root = tmp_path_factory.mktemp("reuse")
    cfg = make_project(root)
    r = segml("run", "--config", str(cfg), "--reuse", "--json")
    assert r.returncode == 0, r.stderr
    assert "no finished run of this config and data to reuse" in r.stderr
    return cfg, json.loads(r.stdout)


@pytest.mark.slow
def test_an_unchanged_config_reuses_its_finished_run(synthetic_run: tuple[Path, dict]) -> None:
    cfg, first = synthetic_run
    root = cfg.parents[2]
    client = _store(root)
    runs, versions = _parent_runs(client), _versions(client)
    assert runs == [first["run_id"]] and len(versions) == 1
    folders = sorted((root / "data" / "processed" / "runs").iterdir())

    r = segml("run", "--config", str(cfg), "--reuse", "--json")
    assert r.returncode == 0, r.stderr
    again = strict_json(r.stdout)
    assert again["run_id"] == first["run_id"] and set(again) == set(first)
    assert again == first  # the object `segml run --json` printed for it, from its run.json
    assert f"reusing run {first['run_id']}" in r.stderr

    r = segml("run", "--config", str(cfg), "--reuse")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"reusing run {first['run_id']}")
    assert f"segml run {first['run_id']} FINISHED" in r.stdout  # the run's own summary

    assert _parent_runs(client) == runs, "no MLflow run was started"
    assert _versions(client) == versions, "no model version was registered"
    assert sorted((root / "data" / "processed" / "runs").iterdir()) == folders


@pytest.mark.slow
def test_a_changed_config_or_store_is_not_reused(
    synthetic_run: tuple[Path, dict], no_store_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, first = synthetic_run
    root = cfg.parents[2]
    found = find_reusable_run(load_config(cfg), root)
    assert found is not None and found.run_id == first["run_id"]
    for overrides in ({"seed": 6}, {"tiers.policy": "abc"}, {"synthetic.customers": 301}):
        assert find_reusable_run(load_config(cfg, overrides), root) is None, overrides
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'elsewhere.db'}")
    assert find_reusable_run(load_config(cfg), root) is None
    assert not (root / "elsewhere.db").exists(), "looking up a store never creates it"


@pytest.mark.slow
def test_a_folder_bank_whose_data_changed_is_not_reused(
    bank_copy: Path, tmp_path: Path, no_store_env: None
) -> None:
    root = tmp_path / "p"
    (root / "experiments" / "configs").mkdir(parents=True)
    cfg = root / "experiments" / "configs" / "bank.yaml"
    off = {"enabled": False}
    cfg.write_text(yaml.safe_dump({
        "name": "bank", "seed": 5, "as_of": "2024-12-31",
        "data": {"source": "folder", "path": str(bank_copy)},
        "clv": off, "churn": off, "value": off, "segments": off, "explain": off, "export": off,
        "grades": {"compare_model": False}, "tracking": {"experiment": "segml-test"},
    }))  # fmt: skip
    r = segml("run", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    logged = _store(root).get_run(run_id).data.params["data.fingerprint"]
    assert folder_fingerprint(bank_copy) == logged  # digested as the run digested it

    found = find_reusable_run(load_config(cfg), root)
    assert found is not None and found.run_id == run_id
    interactions = pd.read_parquet(bank_copy / "interactions.parquet")
    interactions.iloc[:-1].to_parquet(bank_copy / "interactions.parquet", index=False)
    assert folder_fingerprint(bank_copy) != logged
    assert find_reusable_run(load_config(cfg), root) is None
