"""The exported model: registry and aliases, a fresh process reproduces the run, a real HTTP
server answers (and refuses bad input by column), batch scoring, Spark UDF scoring."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from test_pipeline import make_project, segml

NAME = "segml-tiering"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("serving")
    cfg = make_project(root)
    r = segml("run", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    out["config"] = str(cfg)
    uri = out["tracking_uri"]
    out["env"] = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    return out


def _active_features(run: dict) -> pd.DataFrame:
    f = pd.read_parquet(Path(run["output_dir"]) / "features.parquet")
    return f[f.is_active == 1].reset_index(drop=True)


def test_run_registers_the_model_as_challenger(run: dict, monkeypatch) -> None:
    client = MlflowClient(run["tracking_uri"], registry_uri=run["tracking_uri"])
    model = client.get_registered_model(NAME)
    assert "challenger" in model.aliases
    version = client.get_model_version(NAME, model.aliases["challenger"])
    assert run["model"]["version"] == str(version.version)
    assert version.tags["features_version"] and version.tags["tier_policy"].startswith("pyramid")
    mv_run = client.get_run(version.run_id)
    assert mv_run.data.tags["mlflow.parentRunId"] == run["run_id"]  # the export stage's run
    # no pickles: a model from code, its bundle as JSON (+ xgboost's native churn file)
    import mlflow

    for name, value in run["env"].items():  # restored after the test (MLflow mirrors them)
        monkeypatch.setenv(name, value)
    mlflow.set_tracking_uri(run["tracking_uri"])
    mlflow.set_registry_uri(run["tracking_uri"])
    local = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{NAME}/{version.version}",
        dst_path=str(Path(run["output_dir"]).parent / "dl"),
    ))  # fmt: skip
    files = [p.name for p in local.rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".pkl", ".pickle"))], files
    assert "MLmodel" in files and "requirements.txt" in files and "tiering.json" in files
    mlmodel = next(local.rglob("MLmodel")).read_text()
    assert "signature" in mlmodel and "features_version" in mlmodel and "tier_policy" in mlmodel
    example = json.loads(next(local.rglob("input_example.json")).read_text())
    assert all(str(v).startswith("example-") for v in example["data"] and [r[0] for r in example["data"]])  # fmt: skip


def test_fresh_process_reproduces_the_runs_scores(run: dict, tmp_path: Path) -> None:
    out = tmp_path / "fresh.parquet"
    code = (
        "import sys, mlflow, pandas as pd\n"
        "f = pd.read_parquet(sys.argv[1]); f = f[f.is_active == 1].reset_index(drop=True)\n"
        f"m = mlflow.pyfunc.load_model('models:/{NAME}@challenger')\n"
        "m.predict(f).to_parquet(sys.argv[2])\n"
    )
    env = {**os.environ, **run["env"]}
    r = subprocess.run([sys.executable, "-c", code, str(Path(run["output_dir"]) / "features.parquet"), str(out)],
                       capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    fresh = pd.read_parquet(out)
    in_run = pd.read_parquet(Path(run["output_dir"]) / "scores.parquet")
    pd.testing.assert_frame_equal(fresh, in_run)
    tiers = pd.read_parquet(Path(run["output_dir"]) / "tiers.parquet")
    merged = in_run.merge(tiers, on="customer_id", suffixes=("", "_run"))
    np.testing.assert_allclose(merged.value_score, merged.value, rtol=0, atol=1e-9)
    assert (merged.tier_by_value == merged.tier_by_value_run).mean() > 0.97  # ties at a cut
    assert merged.reason_1.str.contains("to annual value").all()
    assert set(in_run.columns) >= {"tier", "value_score", "clv", "churn_probability", "segment", "grade"}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _payload(frame: pd.DataFrame) -> dict:
    clean = frame.astype(object).where(frame.notna(), None)
    return {"dataframe_split": {"columns": list(frame.columns), "data": clean.values.tolist()}}


@pytest.mark.slow
def test_model_server_answers_http_and_refuses_bad_input_by_column(run: dict) -> None:
    r = segml("promote", "--config", run["config"], "--json", env=run["env"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["version"] == str(run["model"]["version"])
    log = open(Path(run["output_dir"]).parent / f"serve-{os.getpid()}.log", "w")  # noqa: SIM115
    port = _free_port()
    # the server execs `uvicorn` from PATH: the venv's, as when the venv is activated
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, **run["env"], "PATH": path}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{NAME}@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(1)
            assert server.poll() is None, Path(log.name).read_text()
        else:
            pytest.fail("the model server did not start within 180 s")
        rows = _active_features(run).head(5)
        status, body = _post(f"{base}/invocations", _payload(rows))
        assert status == 200, body
        pred = pd.DataFrame(body["predictions"])
        expected = pd.read_parquet(Path(run["output_dir"]) / "scores.parquet").head(5)
        assert list(pred.customer_id) == list(expected.customer_id)
        assert list(pred.tier) == list(expected.tier)
        np.testing.assert_allclose(pred.value_score, expected.value_score, rtol=1e-9)
        bad = {
            "missing column": (rows.drop(columns="nii_12m"), "nii_12m"),
            "wrong type": (rows.assign(bal_deposit_last="lots"), "bal_deposit_last"),
            "unknown category": (rows.assign(customer_type="household"), "customer_type"),
            "missing value": (rows.assign(ecl_12m=np.nan), "ecl_12m"),
        }
        for what, (frame, column) in bad.items():
            status, body = _post(f"{base}/invocations", _payload(frame))
            assert status == 400, (what, body)
            assert column in body["message"], (what, body["message"])
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_batch_scoring_streams_parquet_and_refuses_bad_input(run: dict, tmp_path: Path) -> None:
    feats = _active_features(run)
    src = tmp_path / "features.parquet"
    feats.to_parquet(src)
    out = tmp_path / "scores.parquet"
    r = segml("score", "--config", run["config"], "--model", f"models:/{NAME}@challenger",
              "--features", str(src), "--out", str(out), "--chunk-size", "50", "--json", env=run["env"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["rows"] == len(feats) and info["rows_per_second"] > 0
    scored = pd.read_parquet(out)
    expected = pd.read_parquet(Path(run["output_dir"]) / "scores.parquet")
    pd.testing.assert_frame_equal(scored, expected)
    broken = tmp_path / "broken.parquet"
    feats.assign(customer_type=np.where(np.arange(len(feats)) == 70, "alien", feats.customer_type)).to_parquet(broken)  # fmt: skip
    bad_out = tmp_path / "bad_scores.parquet"
    r = segml("score", "--config", run["config"], "--model", f"models:/{NAME}@challenger",
              "--features", str(broken), "--out", str(bad_out), "--chunk-size", "50", env=run["env"])  # fmt: skip
    assert r.returncode == 1 and "customer_type" in r.stderr and "alien" in r.stderr
    assert not bad_out.exists() and not list(tmp_path.glob(".bad_scores*"))
    # a table without rows, or without columns the model reads: said plainly, nothing written
    feats.iloc[:0].to_parquet(empty := tmp_path / "empty.parquet")
    feats.drop(columns=["aum_last", "n_tx_365d"]).to_parquet(lacking := tmp_path / "lacking.parquet")  # fmt: skip
    for table, message in [(empty, "has no rows"), (lacking, "lacks 2 column(s) the model reads: aum_last, n_tx_365d")]:  # fmt: skip
        r = segml("score", "--config", run["config"], "--model", f"models:/{NAME}@challenger",
                  "--features", str(table), "--out", str(bad_out), env=run["env"])  # fmt: skip
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert not bad_out.exists()


def test_promote_refuses_an_unknown_version(run: dict) -> None:
    r = segml("promote", "--config", run["config"], "--version", "999", env=run["env"])
    assert r.returncode == 1 and "no version 999" in r.stderr


@pytest.mark.spark
def test_spark_udf_scores_like_the_pyfunc_model(run: dict, monkeypatch) -> None:
    pytest.importorskip("pyspark")
    import mlflow

    from segml.features.spark import spark_session

    for name, value in run["env"].items():  # restored after the test (MLflow mirrors them)
        monkeypatch.setenv(name, value)
    mlflow.set_tracking_uri(run["tracking_uri"])
    mlflow.set_registry_uri(run["tracking_uri"])
    feats = _active_features(run).head(40)
    client = MlflowClient(run["tracking_uri"], registry_uri=run["tracking_uri"])
    version = client.get_registered_model(NAME).aliases["challenger"]
    uri = f"models:/{NAME}/{version}"
    spark = spark_session()
    schema = ", ".join([
        "customer_id string", "tier string", "tier_by_value string", "value_score double",
        "clv double", "churn_probability double",
    ])  # fmt: skip
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=schema, env_manager="local")
    cols = mlflow.pyfunc.load_model(uri).metadata.get_input_schema().input_names()
    sdf = spark.createDataFrame(feats[cols])
    got = sdf.select(udf(*cols).alias("p")).select("p.*").toPandas()
    expected = pd.read_parquet(Path(run["output_dir"]) / "scores.parquet").head(40)
    assert list(got.customer_id) == list(expected.customer_id)
    assert list(got.tier) == list(expected.tier)
    np.testing.assert_allclose(got.value_score, expected.value_score, rtol=1e-9)
