"""The exported model: registry and aliases (a config's own model name keeps its runs off
segml-tiering), a fresh process reproduces the run, a real HTTP server answers (and refuses bad
input by column), batch scoring, Spark UDF scoring."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from support import make_project, segml

NAME = "segml-tiering"
#: Hang protection only (a busy machine is slow, not broken): no test waits on a short clock.
HANG = 1800


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


@pytest.mark.slow
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


@pytest.mark.slow
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
                       capture_output=True, text=True, env=env, timeout=HANG)  # fmt: skip
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


@pytest.mark.slow
def test_served_reason_codes_are_the_runs_against_the_typical_customer_of_the_tier(run: dict) -> None:  # fmt: skip
    out = Path(run["output_dir"])
    served = pd.read_parquet(out / "scores.parquet")
    codes = pd.read_parquet(out / "reason_codes.parquet")
    merged = served.merge(codes, on="customer_id", suffixes=("", "_run"), validate="one_to_one")
    assert len(merged) == len(served)
    same = merged.tier_by_value == merged.tier_by_value_run  # ties at a threshold aside
    assert same.mean() > 0.97
    for j in range(1, 5):
        got, want = merged[f"reason_{j}"][same], merged[f"reason_{j}_run"][same]
        assert got.fillna("-").tolist() == want.fillna("-").tolist(), j
    # the reference is the run's, recorded in its documents: each value tier's typical customer
    ref = json.loads((out / "explanations.json").read_text())["value"]["reason_reference"]
    rows = {r["tier"]: r for r in ref["rows"]}
    assert rows[None]["customers"] == len(codes) == sum(r["customers"] for t, r in rows.items() if t)  # fmt: skip
    typical = merged.tier_by_value.str.replace("_", " ")
    names = "the typical " + typical + " customer"
    assert all(n in p for n, p in zip(names, merged.reason_1, strict=True))
    assert merged.reason_1.str.contains("to annual value").all()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict | str) -> tuple[int, dict]:
    """Status and JSON body (``{"text": …}`` when the body is not JSON) of one POST."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    req = urllib.request.Request(url, data.encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HANG) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"text": raw.decode(errors="replace")}


def _payload(frame: pd.DataFrame) -> dict:
    clean = frame.astype(object).where(frame.notna(), None)
    return {"dataframe_split": {"columns": list(frame.columns), "data": clean.values.tolist()}}


@pytest.fixture(scope="module")
def server(run: dict) -> Iterator[str]:
    """``mlflow models serve`` of ``segml-tiering@champion``: its base URL.

    One uvicorn worker (the default), whose request threads share one loaded model: the
    configuration in which concurrent requests meet in the model (MLflow runs each request's
    predict in a thread of the worker).
    """
    r = segml("promote", "--config", run["config"], "--json", env=run["env"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["version"] == str(run["model"]["version"])
    # the server execs `uvicorn` from PATH: the venv's, as when the venv is activated
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, **run["env"], "PATH": path, "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "1"}  # fmt: skip
    log = Path(run["output_dir"]).parent / f"serve-{os.getpid()}.log"
    with _served(f"models:/{NAME}@champion", "local", env, log) as base:
        yield base


@contextlib.contextmanager
def _served(model: str, env_manager: str, env: dict, log_path: Path, cwd: Path | None = None) -> Iterator[str]:  # fmt: skip
    """``mlflow models serve`` of ``model`` on a free local port until the block ends: its base
    URL once ``/ping`` answers (the server's output in ``log_path``)."""
    port = _free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", model, "--env-manager",
             env_manager, "--host", "127.0.0.1", "-p", str(port)],
            env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + HANG
            while time.time() < deadline:
                try:
                    with urllib.request.urlopen(f"{base}/ping", timeout=HANG) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    time.sleep(1)
                assert proc.poll() is None, log_path.read_text()[-3000:]
            else:
                pytest.fail(f"the model server did not start within {HANG} s")
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=HANG)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_model_server_answers_http_and_refuses_bad_input_by_column(run: dict, server: str) -> None:
    rows = _active_features(run).head(5)
    status, body = _post(f"{server}/invocations", _payload(rows))
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
        status, body = _post(f"{server}/invocations", _payload(frame))
        assert status == 400, (what, body)
        assert column in body["message"], (what, body["message"])


@pytest.mark.slow
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
    # columns without any value are typed in segml score's output (text), null-typed in the run's
    pd.testing.assert_frame_equal(_nulls_as_none(scored), _nulls_as_none(expected))
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
    for table, message in [(empty, "has no rows"), (lacking, "lacks 2 required columns: aum_last, n_tx_365d")]:  # fmt: skip
        r = segml("score", "--config", run["config"], "--model", f"models:/{NAME}@challenger",
                  "--features", str(table), "--out", str(bad_out), env=run["env"])  # fmt: skip
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert not bad_out.exists()


@pytest.mark.slow
def test_promote_refuses_an_unknown_version(run: dict) -> None:
    r = segml("promote", "--config", run["config"], "--version", "999", env=run["env"])
    assert r.returncode == 1 and "no version 999" in r.stderr


@pytest.mark.slow
def test_a_config_with_its_own_model_name_never_touches_segml_tiering(tmp_path: Path) -> None:
    """small.yaml's settings (its own model name and output folder) in a throwaway project: the
    run registers only its own model, in its own folder; `segml promote` (no --name: the
    config's model) lists the version with the run's config, data, size and metrics."""
    cfg = make_project(tmp_path)
    raw = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    raw |= {"name": "s", "export": {"model_name": "segml-s"}, "output": {"dir": "data/processed/runs/s"}}  # fmt: skip
    cfg.write_text(yaml.safe_dump(raw), encoding="utf-8")
    r = segml("run", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert Path(run["output_dir"]).parent == tmp_path / "data" / "processed" / "runs" / "s"
    client = MlflowClient(run["tracking_uri"], registry_uri=run["tracking_uri"])
    assert [m.name for m in client.search_registered_models()] == ["segml-s"]  # no NAME
    r = segml("promote", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert (got["name"], got["version"], got["config_name"], got["forced"]) == ("segml-s", run["model"]["version"], "s", False)  # fmt: skip
    [listed] = got["versions"]
    params = client.get_run(run["run_id"]).data.params
    assert (listed["run_id"], listed["config_name"], listed["aliases"]) == (run["run_id"], "s", ["challenger"])  # fmt: skip
    assert listed["data_fingerprint"] == params["data.fingerprint"] and len(params["data.fingerprint"]) == 16  # fmt: skip
    for key, value in listed["metrics"].items():  # the run's own numbers, under the same names
        expected = run["metrics"].get(key)  # null in run --json where not computed
        assert value == (None if expected is None else pytest.approx(expected)), key
    assert listed["metrics"]["features.rows"] == 300 and listed["metrics"]["value.test.spearman"]
    assert client.get_registered_model("segml-s").aliases.keys() == {"challenger", "champion"}


@pytest.mark.spark
@pytest.mark.slow
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


# ----------------------------------------------------------------------------- concurrency
def _tiled(run: dict, n: int) -> pd.DataFrame:
    """The run's active customers repeated to ``n`` rows, each with a fresh id."""
    f = _active_features(run)
    out = f.iloc[np.arange(n) % len(f)].reset_index(drop=True)
    out["customer_id"] = [f"tiled-{i:05d}" for i in range(n)]
    return out


def _chunks(n: int, seed: int) -> list[np.ndarray]:
    """All of ``n`` rows in a seeded order, cut into requests of 1 to 10 rows."""
    rng = np.random.default_rng(seed)
    order, out, at = rng.permutation(n), [], 0
    while at < n:
        size = int(rng.integers(1, 11))
        out.append(order[at : at + size])
        at += size
    return out


def _answers(body: dict) -> dict[str, str]:
    """Each predicted row as canonical JSON, by customer id."""
    return {r["customer_id"]: json.dumps(r, sort_keys=True) for r in body["predictions"]}


@pytest.mark.slow
def test_concurrent_requests_get_the_serial_answers(run: dict, server: str) -> None:
    """6 client threads each score the same 300 rows (requests of 1-10 rows, each thread its
    own order) at once on the one-worker server: no error, every row's answer byte for byte
    the one a single client got. (With ``booster.set_param`` in predict, ~4% of such requests
    failed with xgboost's ``Check failed: !this->need_configuration_``: among these ~300
    concurrent requests, none failing by chance has a probability below 1e-5.)"""
    rows = _tiled(run, 300)
    url = f"{server}/invocations"
    plans = [[json.dumps(_payload(rows.iloc[idx])) for idx in _chunks(len(rows), t)] for t in range(6)]  # fmt: skip
    serial: dict[str, str] = {}
    for body in plans[0]:  # one client, one request at a time
        status, answer = _post(url, body)
        assert status == 200, answer
        serial.update(_answers(answer))
    assert len(serial) == len(rows)
    start = threading.Barrier(len(plans))

    def client(bodies: list[str]) -> tuple[list, dict[str, str]]:
        errors, got = [], {}
        start.wait(timeout=HANG)
        for body in bodies:
            status, answer = _post(url, body)
            if status == 200:
                got.update(_answers(answer))
            else:
                errors.append((status, str(answer)[:500]))
        return errors, got

    with ThreadPoolExecutor(len(plans)) as pool:
        results = list(pool.map(client, plans))
    for errors, got in results:
        assert errors == [], errors[:3]
        assert got == serial


# ----------------------------------------------------------------------------- input guards
#: (column, value) put in row 3 of a good request, and what the refusal must say.
IMPLAUSIBLE = [
    ("age", -5, "column 'age', row 3: -5 is below the minimum 0"),
    ("bal_deposit_last", -100.0, "column 'bal_deposit_last', row 3: -100 is below the minimum 0"),
    ("digital_share", 1.5, "column 'digital_share', row 3: 1.5 is above the maximum 1"),
    ("bal_deposit_last", float("inf"), "column 'bal_deposit_last', row 3: inf is not finite"),
    ("fin_roa", float("-inf"), "column 'fin_roa', row 3: -inf is not finite"),
    ("nii_12m", 1e308, "column 'nii_12m', row 3: 1e+308 is not finite, or larger in magnitude"),
    ("n_tx_30d", 1e308, "column 'n_tx_30d', row 3: a number too large for a 64-bit integer"),
    ("customer_type", ["retail"], "column 'customer_type', row 3: a list or an object"),
]


def _clean(text: str) -> None:
    """No stack trace, native check or library path reaches the client."""
    for leak in ("/site-packages/", "Traceback", "Check failed", '.py", line'):
        assert leak not in text, text[:2000]


@pytest.mark.slow
def test_server_refuses_implausible_rows_naming_column_and_row(run: dict, server: str) -> None:
    url = f"{server}/invocations"
    rows = _active_features(run).head(5)
    for column, value, message in IMPLAUSIBLE:
        payload = _payload(rows)
        payload["dataframe_split"]["data"][3][list(rows.columns).index(column)] = value
        status, body = _post(url, json.dumps(payload))  # inf is sent as JSON's Infinity
        assert status == 400, (column, value, body)
        assert message in body["message"], (column, value, body["message"])
        _clean(json.dumps(body))
    # nesting deeper than Python's recursion limit: MLflow's server fails in json.loads before
    # any model code runs (MLflow 3.x answers 500 "Internal Server Error"; docs/serving.md)
    deep = '{"dataframe_split": {"columns": ["a"], "data": ' + "[" * 100_000 + "]" * 100_000 + "}}"  # fmt: skip
    status, body = _post(url, deep)
    assert 400 <= status < 600, body
    _clean(json.dumps(body))
    status, body = _post(url, _payload(rows))  # the server is still there
    assert status == 200, body


def _load(run: dict, monkeypatch: pytest.MonkeyPatch) -> object:
    import mlflow

    for name, value in run["env"].items():  # restored after the test (MLflow mirrors them)
        monkeypatch.setenv(name, value)
    mlflow.set_tracking_uri(run["tracking_uri"])
    mlflow.set_registry_uri(run["tracking_uri"])
    return mlflow.pyfunc.load_model(f"models:/{NAME}@challenger")


@pytest.mark.slow
def test_model_refuses_implausible_rows_in_process_and_never_reconfigures(run: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # fmt: skip
    import xgboost as xgb
    from mlflow.exceptions import MlflowException

    model = _load(run, monkeypatch)
    cols = model.metadata.get_input_schema().input_names()
    rows = _active_features(run)[cols].head(5)
    for column, value, message in IMPLAUSIBLE:
        if column == "n_tx_30d":  # in process, MLflow's signature check refuses a float there
            message = "Incompatible input types for column n_tx_30d"
        frame = rows.astype({column: object})
        frame.at[3, column] = value
        with pytest.raises(MlflowException) as err:
            model.predict(frame)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE", err.value.message
        assert message in err.value.message, err.value.message
        _clean(err.value.message)

    def refuse(self: xgb.Booster, *args: object, **kwargs: object) -> None:
        raise AssertionError("a booster was reconfigured while predicting")

    monkeypatch.setattr(xgb.Booster, "set_param", refuse)  # predict shares its boosters
    model.predict(_active_features(run)[cols]).to_parquet(got := tmp_path / "got.parquet")
    expected = pd.read_parquet(Path(run["output_dir"]) / "scores.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(got), expected)


@pytest.mark.slow
def test_float_array_encodings_equal_the_pandas_ones(run: dict, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Serving builds each model's DMatrix from a float array (segml.boosters): the same
    numbers as the models' pandas encodings, categoricals as their codes."""
    from segml.boosters import frame_array

    bundle = _load(run, monkeypatch).unwrap_python_model().bundle
    df = bundle.schema.check(_active_features(run))
    trees = bundle.value_model.trees_
    ref, types = frame_array(trees._matrix(df, fitting=False))
    np.testing.assert_array_equal(trees.feature_array(df), ref)
    assert types == trees.feature_types() and "c" in types
    enc = bundle.churn_model.encoder_
    values, types = enc.transform_array(df)
    ref, ref_types = frame_array(enc.transform(df))
    np.testing.assert_array_equal(values, ref)
    assert types == ref_types
    np.testing.assert_array_equal(bundle.surrogate.array(df), frame_array(bundle.surrogate.matrix(df))[0])  # fmt: skip


@pytest.mark.slow
def test_segml_score_names_the_file_row_of_an_implausible_value(run: dict, tmp_path: Path) -> None:
    feats = _active_features(run)
    feats.loc[70, "age"] = -5.0
    feats.to_parquet(src := tmp_path / "features.parquet")
    out = tmp_path / "scores.parquet"
    r = segml("score", "--config", run["config"], "--model", f"models:/{NAME}@challenger",
              "--features", str(src), "--out", str(out), "--chunk-size", "50", env=run["env"])  # fmt: skip
    assert r.returncode == 1 and not out.exists()
    # row 70 of the file is row 20 of its chunk: the message counts in the file
    assert "column 'age', row 70: -5 is below the minimum 0" in r.stderr, r.stderr
    _clean(r.stderr)


def test_input_guards_take_their_bounds_from_the_contract() -> None:
    from segml.contract import CONTRACT
    from segml.serving.guards import MAX_ABS, Limits, RowsError, check_rfm, rows_text

    lim = Limits(["bal_deposit_last", "age", "digital_share", "a_banks_own_column", "nii_12m"])
    assert lim.bounds["bal_deposit_last"].low == CONTRACT["balances"].column("avg_balance").min
    assert "a_banks_own_column" not in lim.bounds and "nii_12m" not in lim.bounds  # unbounded
    lim.check(np.array([[0.0, 0.0, 1.0, -1e9, -5e6], [np.nan] * 5]))  # missing values pass
    with pytest.raises(RowsError) as err:
        lim.check(np.array([[1.0, 30, 0.5, 0, 0], [2.0, -5, 0.5, 0, 0], [3.0, -1, 0.5, 0, 0]]))
    assert str(err.value).startswith("column 'age', rows 1 and 2: -5 and -1 are below the minimum 0")  # fmt: skip
    assert err.value.column == "age" and err.value.at(100).startswith("column 'age', rows 101 and 102")  # fmt: skip
    with pytest.raises(RowsError, match="column 'a_banks_own_column', row 0: inf is not finite"):
        lim.check(np.array([[1.0, 30, 0.5, np.inf, 0]]))
    with pytest.raises(RowsError, match="column 'nii_12m', row 0: -1e\\+33 is not finite"):
        lim.check(np.array([[1.0, 30, 0.5, 0, -10 * MAX_ABS]]))
    assert rows_text(np.arange(3, 12)) == "rows 3, 4, 5, 6, 7 and 4 more"
    rfm = {"frequency": np.array([2.0, 0, 1]), "recency": np.array([5.0, 0, 1]), "T": np.array([9.0, np.nan, 3])}  # fmt: skip
    check_rfm(rfm)
    with pytest.raises(RowsError, match="column 'recency', row 2: 4 is above T"):
        check_rfm({**rfm, "recency": np.array([5.0, 0, 4])})


# ----------------------------------------------------------------------------- population rule
#: What a closed relationship gets instead of a tier (segml.serving.schema.CLOSED).
CLOSED = "closed relationship (is_active = 0): the run tiers active customers only"
#: Outputs a closed relationship has none of: the run tiers, values, segments and explains
#: active customers only (its corporate grade stays: the run grades every corporate client).
UNTIERED = ["tier", "tier_by_value", "value_score", "clv", "churn_probability", "high_churn_risk",
            "retention_action", "segment", "segment_name", "reason_1", "reason_4",
            "override_reason"]  # fmt: skip


def _nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as objects, every missing value None (NaN, a Parquet or JSON null alike)."""
    return frame.astype(object).where(frame.notna(), None)


@pytest.mark.slow
def test_closed_relationships_get_no_tier_and_say_why_in_batch_and_over_http(run: dict, server: str, tmp_path: Path) -> None:  # fmt: skip
    feats = pd.read_parquet(Path(run["output_dir"]) / "features.parquet")
    closed = (feats.is_active == 0).to_numpy()
    assert 5 <= closed.sum() < len(feats) - 5
    feats.to_parquet(src := tmp_path / "all.parquet")
    out = tmp_path / "scores.parquet"
    r = segml("score", "--config", run["config"], "--model", f"models:/{NAME}@champion",
              "--features", str(src), "--out", str(out), "--chunk-size", "50", "--json", env=run["env"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["not_tiered"] == closed.sum()
    scored = pd.read_parquet(out)
    assert list(scored.customer_id) == list(feats.customer_id)  # one row per input row, in order
    assert (scored.not_tiered[closed] == CLOSED).all() and scored.not_tiered[~closed].isna().all()
    assert scored.loc[closed, UNTIERED].isna().all().all()
    assert scored.loc[~closed, ["tier", "value_score", "reason_1"]].notna().all().all()
    # the active rows score as in the run; the closed ones keep the run's corporate grade
    expected = pd.read_parquet(Path(run["output_dir"]) / "scores.parquet")
    pd.testing.assert_frame_equal(_nulls_as_none(scored[~closed].reset_index(drop=True)), _nulls_as_none(expected))  # fmt: skip
    grades = pd.read_parquet(Path(run["output_dir"]) / "grades.parquet")
    run_grade = dict(zip(grades.customer_id, grades.grade.astype(str), strict=True))
    assert [run_grade.get(c) for c in scored.customer_id[closed]] == list(_nulls_as_none(scored).grade[closed])  # fmt: skip
    # over HTTP: the same answers, JSON null where batch has a null; the flag alone decides
    pick = np.r_[np.flatnonzero(closed)[:3], np.flatnonzero(~closed)[:3]]
    rows = feats.iloc[np.sort(pick)].reset_index(drop=True)
    status, body = _post(f"{server}/invocations", json.dumps(_payload(rows), allow_nan=False))
    assert status == 200, body
    got, want = pd.DataFrame(body["predictions"]), scored.iloc[np.sort(pick)].reset_index(drop=True)  # fmt: skip
    assert list(got.columns) == list(want.columns)
    floats = ["value_score", "clv", "churn_probability"]
    pd.testing.assert_frame_equal(_nulls_as_none(got.drop(columns=floats)), _nulls_as_none(want.drop(columns=floats)))  # fmt: skip
    np.testing.assert_allclose(got[floats].astype(float), want[floats].astype(float), rtol=1e-9)
    assert "NaN" not in json.dumps(body["predictions"])  # strict JSON: null, not NaN
    flipped = rows.assign(is_active=0)
    status, body = _post(f"{server}/invocations", _payload(flipped))
    assert status == 200, body
    assert all(p["tier"] is None and p["not_tiered"] == CLOSED for p in body["predictions"])


@pytest.mark.slow
def test_missing_columns_are_named_first_in_one_short_line(run: dict, server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # fmt: skip
    from mlflow.exceptions import MlflowException

    rows = _active_features(run).head(5)
    lacking = rows.drop(columns=["nii_12m", "is_active"])
    first = "features lack 2 required columns: is_active, nii_12m (is_active: 1 if the relationship is open"  # fmt: skip
    status, body = _post(f"{server}/invocations", _payload(lacking))
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", body
    assert body["message"].startswith(first) and len(body["message"]) < 250, body["message"][:500]
    model = _load(run, monkeypatch)  # in process: the same message
    with pytest.raises(MlflowException) as err:
        model.predict(lacking)
    assert err.value.message.startswith(first) and len(err.value.message) < 250
    # segml's refusals over HTTP are its own message alone (no echo of the request before it)
    status, body = _post(f"{server}/invocations", _payload(rows.assign(customer_type="household")))  # fmt: skip
    assert status == 400 and body["message"].startswith("column 'customer_type' has unknown category")  # fmt: skip
    # text in a numeric column over HTTP: MLflow's parsing refuses it, naming the column at once
    status, body = _post(f"{server}/invocations", _payload(rows.assign(bal_deposit_last="lots")))
    assert status == 400 and len(body["message"]) < 300, body["message"][:500]
    assert "column bal_deposit_last" in body["message"].splitlines()[0]
    # segml score: the missing columns, or those of the wrong type, first; nothing written
    feats = _active_features(run)
    cases = [
        (feats.drop(columns=["nii_12m", "is_active"]), "lacks 2 required columns: is_active, nii_12m"),
        (feats.assign(bal_deposit_last="lots"), "has 1 column of the wrong type: bal_deposit_last (text; the model reads double)"),
    ]  # fmt: skip
    for frame, message in cases:
        frame.to_parquet(src := tmp_path / "bad.parquet")
        r = segml("score", "--config", run["config"], "--model", f"models:/{NAME}@challenger",
                  "--features", str(src), "--out", str(tmp_path / "s.parquet"), env=run["env"])  # fmt: skip
        errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
        assert r.returncode == 1 and len(errors) == 1, r.stderr
        assert errors[0].startswith(f"error: {src} {message}") and len(errors[0]) < 400, errors
        assert not (tmp_path / "s.parquet").exists()
        _clean(r.stderr)


def test_the_population_rule_reads_is_active_and_missing_columns_come_first() -> None:
    from segml.serving.schema import CLOSED as SERVED_CLOSED
    from segml.serving.schema import InputError, missing_columns, open_rows

    assert SERVED_CLOSED == CLOSED
    assert str(missing_columns(["a", "b", "c"])) == "features lack 3 required columns: a, b, c"
    assert str(missing_columns(["nii_12m"], "f.parquet", "lacks")) == "f.parquet lacks 1 required column: nii_12m"  # fmt: skip
    assert str(missing_columns([f"c{i:02d}" for i in range(25)])).endswith("c18, c19 and 5 more")
    np.testing.assert_array_equal(open_rows(pd.DataFrame({"is_active": [1, 0, 1.0]})), [True, False, True])  # fmt: skip
    with pytest.raises(InputError, match=r"^features lack 1 required column: is_active \(is_active: 1 if"):  # fmt: skip
        open_rows(pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(InputError, match=r"^column 'is_active', rows 1 and 2: \['0.5', 'missing'\] where 1"):  # fmt: skip
        open_rows(pd.DataFrame({"is_active": [1, 0.5, None]}))


@pytest.mark.slow
def test_the_exported_model_flags_the_runs_customers_as_the_run_did(run: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # fmt: skip
    """Retention flags: the run sizes each tier's capacity by expected loss; the registered
    model carries the run's cuts and gives the run's customers the run's flags."""
    out = Path(run["output_dir"])
    doc = json.loads((out / "retention.json").read_text(encoding="utf-8"))
    tiers = pd.read_parquet(out / "tiers.parquet")
    scores = pd.read_parquet(out / "scores.parquet")  # the exported model on the run's customers
    m = scores.merge(tiers, on="customer_id", suffixes=("", "_run"))
    same = (m.tier == m.tier_run).to_numpy()  # a tie at a tier threshold may move a customer
    assert len(m) == len(scores) and same.mean() > 0.97
    assert doc["flagged"] == int(tiers.high_churn_risk.sum()) > 0
    np.testing.assert_array_equal(m.high_churn_risk[same].astype(bool), m.high_churn_risk_run[same])
    np.testing.assert_array_equal(m.retention_action.notna(), m.high_churn_risk.astype(bool))
    import mlflow

    for name, value in run["env"].items():  # restored after the test (MLflow mirrors them)
        monkeypatch.setenv(name, value)
    mlflow.set_tracking_uri(run["tracking_uri"])
    mlflow.set_registry_uri(run["tracking_uri"])
    local = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{NAME}/{run['model']['version']}", dst_path=str(tmp_path),
    ))  # fmt: skip
    manifest = json.loads(next(local.rglob("tiering.json")).read_text(encoding="utf-8"))
    for row in doc["tiers"]:
        book = manifest["playbooks"][row["tier"]]
        assert book == doc["playbooks"][row["tier"]]
        assert book["retention_loss_cut"] == row["loss_cut"]
        assert book["retention_min_churn"] == doc["portfolio_mean_churn"]


def _model_folder(run: dict, monkeypatch: pytest.MonkeyPatch, dst: Path) -> Path:
    """The registered model's files (the folder ``MLmodel`` is in), downloaded to ``dst``."""
    import mlflow

    for name, value in run["env"].items():  # restored after the test (MLflow mirrors them)
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(run["tracking_uri"])
    local = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{NAME}/{run['model']['version']}", dst_path=str(dst),
    ))  # fmt: skip
    return next(local.rglob("MLmodel")).parent


@pytest.mark.slow
def test_the_model_ships_without_segml_installed(run: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # fmt: skip
    """The folder `mlflow models build-docker` copies into its image serves in a virtual
    environment that MLflow makes from the model's own requirements (no segml installed, the
    project nowhere on the path) and answers as the run scored."""
    model = _model_folder(run, monkeypatch, tmp_path / "dl")
    requirements = (model / "requirements.txt").read_text().split()
    assert not [r for r in requirements if r.startswith("segml")], requirements
    assert "mlflow==" + __import__("mlflow").__version__ in requirements
    assert (model / "code" / "segml" / "serving" / "pyfunc.py").is_file()
    assert not list((model / "code").rglob("__pycache__"))
    # what build-docker builds from (Docker itself is not on this machine): its Dockerfile and
    # the model folder it copies into the image
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH", "VIRTUAL_ENV"))}  # fmt: skip
    tools = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # mlflow, uv
    docker = tmp_path / "docker"
    r = subprocess.run([sys.executable, "-m", "mlflow", "models", "generate-dockerfile", "-m", str(model),
                        "--env-manager", "virtualenv", "-d", str(docker)],
                       capture_output=True, text=True, env={**bare, "PATH": tools}, timeout=HANG)  # fmt: skip
    assert r.returncode == 0, r.stderr
    dockerfile = (docker / "Dockerfile").read_text()
    assert "COPY model_dir/" in dockerfile and "env_manager='virtualenv'" in dockerfile, dockerfile
    shipped = next((docker / "model_dir").rglob("MLmodel")).parent
    assert (shipped / "code" / "segml" / "serving" / "pyfunc.py").is_file()
    # serve it from a fresh virtual environment (uv: the installer `make setup` uses) in a
    # folder outside the project
    envs = tmp_path / "envs"
    env = {**bare, "PATH": tools, "MLFLOW_ENV_ROOT": str(envs), "MLFLOW_DISABLE_TELEMETRY": "true"}
    rows = _active_features(run).head(20)
    want = pd.read_parquet(Path(run["output_dir"]) / "scores.parquet").head(20)
    with _served(str(shipped), "uv", env, tmp_path / "serve.log", cwd=tmp_path) as base:
        status, body = _post(f"{base}/invocations", _payload(rows))
    assert status == 200, body
    got = pd.DataFrame(body["predictions"])[list(want.columns)]
    assert got.customer_id.tolist() == want.customer_id.tolist()
    assert got.tier.tolist() == want.tier.tolist() and got.reason_1.tolist() == want.reason_1.tolist()  # fmt: skip
    np.testing.assert_allclose(got.value_score.astype(float), want.value_score, rtol=1e-9)
    # the server's environment is one MLflow made from the requirements: segml is not in it
    (python,) = envs.glob("*/bin/python")
    probe = "import importlib.util as u, sys; sys.exit(u.find_spec('segml') is not None)"
    assert subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=bare).returncode == 0
