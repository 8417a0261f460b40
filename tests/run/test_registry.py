"""Registry integrity and run states: a run that fails, is stopped or is killed leaves no model
that can take an alias, and its MLflow run says FAILED; `segml promote` lists the versions with
the config that made them and refuses another config's version without --force; the committed
test and notebook configs register their own models in their own folders. Real SQLite stores,
real signals, real killed processes (the full `segml run` paths are in test_pipeline.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from segml.cli.main import app
from segml.io import remove_stale_temporaries
from segml.processes import process_alive, process_start_time
from segml.run.config import RunConfig, load_config
from segml.run.lineage import TextPseudonymizer
from segml.run.tracking import mark_dead_runs, tracked_run
from segml.serving.registry import OtherConfigError, model_versions, promote
from support import NO_STORE_ENV

REPO = Path(__file__).resolve().parents[2]

#: A child process that starts a tracked run, registers a model version under its nested
#: ``export`` stage run (where segml logs the model), asks for an alias and then waits to be
#: stopped (``term``) or kills itself (``kill``).
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from mlflow.tracking import MlflowClient
    from segml.run.config import RunConfig
    from segml.run.tracking import tracked_run

    root, uri, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    cfg = RunConfig.model_validate({"name": "k", "tracking": {"experiment": "k", "uri": uri}})
    with tracked_run(cfg, root) as tracker:
        with tracker.stage("export") as st:
            mv = MlflowClient(uri).create_model_version("m", str(root), run_id=st.run_id)
        tracker.defer_alias("m", mv.version, "challenger")
        print(tracker.run_id, mv.version, flush=True)
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(3600)
    """
)


@pytest.fixture(autouse=True)
def _own_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's store only: no MLflow URI an earlier test of this process left set (MLflow
    writes them to the environment, which the child processes would inherit)."""
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)


def _store(tmp_path: Path) -> tuple[str, MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    client.create_registered_model("m")
    return uri, client


def _child(tmp_path: Path, uri: str, mode: str) -> tuple[subprocess.Popen[str], str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), uri, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert len(line) == 2, proc.stderr.read() if proc.stderr else ""
    return proc, line[0], line[1]


@pytest.mark.slow
def test_sigterm_fails_the_run_and_withdraws_its_version(tmp_path: Path) -> None:
    uri, client = _store(tmp_path)
    kept = client.create_model_version("m", str(tmp_path))
    client.set_registered_model_alias("m", "champion", kept.version)
    proc, run_id, version = _child(tmp_path, uri, "term")
    assert client.get_run(run_id).info.status == "RUNNING"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate()
    assert proc.returncode != 0 and "Terminated: terminated by SIGTERM" in err
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert "SIGTERM" in run.data.tags["segml.killed"]
    assert run.data.tags["segml.withdrawn_versions"] == f"m/{version}"
    assert [mv.version for mv in client.search_model_versions("name = 'm'")] == [kept.version]
    assert client.get_registered_model("m").aliases == {"champion": kept.version}
    stages = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    assert [s.info.status for s in stages] == ["FINISHED"]  # the export stage had ended


@pytest.mark.slow
def test_a_killed_run_is_marked_failed_by_the_next_and_its_version_cannot_be_promoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the config's store, not another
    uri, client = _store(tmp_path)
    proc, run_id, version = _child(tmp_path, uri, "kill")
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    # the killed process could not clean up: its run says RUNNING, its version is READY
    assert client.get_run(run_id).info.status == "RUNNING"
    assert client.get_registered_model("m").aliases == {}  # the alias waited for FINISHED
    with pytest.raises(LookupError, match=rf"version {version} comes from run .* which is RUNNING"):
        promote(client, "m", version=version)
    assert client.get_registered_model("m").aliases == {}
    # the next run of this store marks it FAILED (killed) and withdraws its version, even when
    # an earlier call in this process left MLflow's registry pointing at another store
    cfg = RunConfig.model_validate({"name": "n", "tracking": {"experiment": "k", "uri": uri}})
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'another.db'}")  # an earlier call's leftover
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)  # no store named by the user
    with tracked_run(cfg, tmp_path) as tracker:
        assert tracker.recovered_runs == [run_id]
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["segml.killed"].startswith(f"killed: process {proc.pid} on ")
    assert run.data.tags["segml.withdrawn_versions"] == f"m/{version}"
    assert client.search_model_versions("name = 'm'") == []
    assert mark_dead_runs(client) == []  # nothing left to mark; live runs are never touched


def test_promote_refuses_a_version_of_a_failed_run_and_names_it(tmp_path: Path) -> None:
    uri, client = _store(tmp_path)
    exp = client.create_experiment("e")
    bad = client.create_run(exp, run_name="broken", tags={"error": "OSError: disk full"})
    client.set_terminated(bad.info.run_id, "FAILED")
    mv = client.create_model_version("m", str(tmp_path), run_id=bad.info.run_id)
    with pytest.raises(LookupError) as err:
        promote(client, "m", version=mv.version)
    msg = str(err.value)
    assert bad.info.run_id in msg and "(broken)" in msg and "FAILED: OSError: disk full" in msg
    client.set_registered_model_alias("m", "challenger", mv.version)  # set by hand
    with pytest.raises(LookupError, match="which is FAILED"):
        promote(client, "m")  # the challenger alias does not launder it
    good = client.create_run(exp, run_name="good")
    client.set_terminated(good.info.run_id, "FINISHED")
    ok = client.create_model_version("m", str(tmp_path), run_id=good.info.run_id)
    assert promote(client, "m", version=ok.version)["version"] == str(ok.version)
    assert str(client.get_registered_model("m").aliases["champion"]) == str(ok.version)


def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(
    tmp_path: Path,
) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(done.stdout)
    assume_gone = not process_alive(dead)
    live = os.getpid()
    names = [f".bank_x.tmp-{dead}-ab12", f".out.csv.tmp-{dead}", f".run-1.old-{dead}",
             f".bank_y.tmp-{live}-cd34", "bank_z", ".hidden", f".notes.tmp-{dead}x"]  # fmt: skip
    for n in names:
        (tmp_path / n).mkdir()
    (tmp_path / f".bank_x.tmp-{dead}-ab12" / "customers.parquet").write_bytes(b"x")
    removed = remove_stale_temporaries(tmp_path)
    if assume_gone:
        assert removed == sorted(names[:3])
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(names[3:]) if assume_gone else set(names[3:]) <= set(left)
    assert remove_stale_temporaries(tmp_path / "absent") == []


def test_a_reused_process_id_does_not_look_alive() -> None:
    me = os.getpid()
    start = process_start_time(me)
    assert process_alive(me, start)
    if start is not None:  # Linux: another start time means another process
        assert not process_alive(me, str(int(start) + 1))


def test_text_pseudonymizer_replaces_ids_in_pairs_and_words() -> None:
    p = TextPseudonymizer(b"key", ids=["C0001", "42", "123456"])
    text = ("transactions.amount (min): first: txn_id='T9', customer_id='C0001' (amount=-1.0); "
            'C0001 twice, 42 rows, 123456. {"account_id": 7}')  # fmt: skip
    out = p(text)
    assert "C0001" not in out and "'T9'" not in out and "123456" not in out
    assert "42 rows" in out and "amount=-1.0" in out  # counts and values stay readable
    assert out.count(p("customer_id='C0001'").split("'")[1]) == 2  # one pseudonym per id
    doc = p.json({"issues": [{"examples": ["customer_id='C0001' (age=-5)"]}], "C0001": 1})
    assert "C0001" not in str(doc) and "age=-5" in str(doc)
    assert TextPseudonymizer(b"key")("customer_id=C0001") == p("customer_id=C0001")


# ----------------------------------------------------------------------------- promote by config
def _segml_version(client: MlflowClient, exp: str, config_name: str, rows: int, fingerprint: str) -> tuple[str, str]:  # fmt: skip
    """A version of model "m" as `segml run` leaves it: a FINISHED parent run tagged with its
    config's name and logging the data fingerprint, stage runs with their metrics, the model
    version logged by the ``export`` stage run. Returns the version and the parent run id."""
    parent = client.create_run(exp, run_name=config_name, tags={"segml.config_name": config_name})
    pid = parent.info.run_id
    client.log_param(pid, "data.fingerprint", fingerprint)
    stages = {"features": {"rows": rows}, "tiers": {"concentration.customers": rows - 100},
              "value": {"test.spearman": 0.9, "test.mae": 1234.0}, "churn": {"test.roc_auc": 0.7},
              "export": {}}  # fmt: skip
    for stage, metrics in stages.items():
        tags = {"mlflow.parentRunId": pid, "segml.stage": stage}
        sid = client.create_run(exp, run_name=stage, tags=tags).info.run_id
        for key, value in metrics.items():
            client.log_metric(sid, key, value)
        client.set_terminated(sid, "FINISHED")
    client.set_terminated(pid, "FINISHED")
    mv = client.create_model_version("m", f"runs:/{sid}/model", run_id=sid)  # the export stage's
    client.set_model_version_tag("m", mv.version, "segml.run_id", pid)
    return str(mv.version), pid


def _config(tmp_path: Path, uri: str, name: str, model: str = "m") -> str:
    path = tmp_path / f"{name}.yaml"
    raw = {"name": name, "tracking": {"uri": uri}, "export": {"model_name": model}}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(path)


def _one_line(res: Any, *names: str) -> None:
    """Exit 1, one ``error:`` line on stderr naming each of ``names``, no traceback."""
    message = res.stderr.strip()
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    assert len(message.splitlines()) == 1 and message.startswith("error: "), message
    for name in names:
        assert name in message, (name, message)


def test_promote_lists_versions_and_refuses_another_configs_without_force(tmp_path: Path) -> None:
    uri, client = _store(tmp_path)
    exp = client.create_experiment("e")
    v1, run1 = _segml_version(client, exp, "demo", 20_000, "aaaa1111bbbb2222")
    v2, run2 = _segml_version(client, exp, "small", 1_500, "cccc3333dddd4444")
    client.set_registered_model_alias("m", "champion", v1)
    client.set_registered_model_alias("m", "challenger", v2)  # what small.yaml used to do
    listed = model_versions(client, "m")
    assert [v["version"] for v in listed] == [v2, v1]  # newest first
    assert (listed[0]["config_name"], listed[0]["run_id"], listed[0]["aliases"]) == ("small", run2, ["challenger"])  # fmt: skip
    assert listed[1]["data_fingerprint"] == "aaaa1111bbbb2222" and listed[1]["aliases"] == ["champion"]  # fmt: skip
    assert listed[1]["metrics"] == {"features.rows": 20_000, "tiers.concentration.customers": 19_900,
                                    "value.test.spearman": 0.9, "value.test.mae": 1234.0,
                                    "churn.test.roc_auc": 0.7}  # fmt: skip
    with pytest.raises(OtherConfigError, match=f"version {v2} was made by a run of config 'small'"):
        promote(client, "m", config_name="demo")
    demo = _config(tmp_path, uri, "demo")  # export.model_name "m": no --name needed
    runner = CliRunner()
    res = runner.invoke(app, ["promote", "--config", demo], env=NO_STORE_ENV)
    _one_line(res, f"m version {v2}", "config 'small'", run2, "not by one of config 'demo'",
              "--version", "--force")  # fmt: skip
    table = res.stdout.splitlines()
    assert table[0] == "m: 2 version(s), newest first"
    for word in ("version", "aliases", "config", "data fingerprint", "customers", "churn AUC"):
        assert word in table[1], (word, table[1])
    assert table[2].split()[:3] == [v2, "challenger", "small"] and "1,500" in table[2]
    assert table[3].split()[:3] == [v1, "champion", "demo"] and "aaaa1111bbbb2222" in table[3]
    assert str(client.get_registered_model("m").aliases["champion"]) == v1  # nothing moved
    res = runner.invoke(app, ["promote", "--config", demo, "--force", "--json"], env=NO_STORE_ENV)
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert (got["version"], got["previous_version"], got["config_name"], got["forced"]) == (v2, v1, "small", True)  # fmt: skip
    assert [v["version"] for v in got["versions"]] == [v2, v1]
    assert got["versions"][0]["config_name"] == "small" and got["versions"][0]["metrics"]["features.rows"] == 1500  # fmt: skip
    assert str(client.get_registered_model("m").aliases["champion"]) == v2
    res = runner.invoke(app, ["promote", "--config", demo, "--version", v1, "--json"], env=NO_STORE_ENV)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["forced"] is False  # its own config's version: no --force
    # --name and --from-alias still choose; a model the registry lacks is named, with those it has
    res = runner.invoke(app, ["promote", "--config", _config(tmp_path, uri, "small", "nope"),
                              "--name", "m", "--from-alias", "challenger", "--alias", "staging"],
                        env=NO_STORE_ENV)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"m@staging -> version {v2} (was none)" in res.stdout
    res = runner.invoke(app, ["promote", "--config", _config(tmp_path, uri, "small", "nope")], env=NO_STORE_ENV)  # fmt: skip
    _one_line(res, "no registered model 'nope'", "(the registry holds: m)", "--name")


def test_committed_test_and_notebook_configs_keep_off_the_demos_model_and_folder() -> None:
    configs = {n: load_config(REPO / "experiments" / "configs" / f"{n}.yaml")
               for n in ("default", "small", "notebooks")}  # fmt: skip
    assert configs["default"].export.model_name == "segml-tiering"
    names = {c.export.model_name for c in configs.values()}
    folders = {c.output.dir for c in configs.values()}
    assert len(names) == 3 and len(folders) == 3, (names, folders)
    assert len({c.name for c in configs.values()}) == 3


def test_pseudonyms_are_keyed_stable_and_shared_through_a_memo() -> None:
    import pandas as pd

    from segml.run.lineage import pseudonymize

    ids = pd.Series(["C001", None, "C002", "C001"])
    memo: dict[str, str] = {}
    first = pseudonymize(ids, b"key", memo)
    assert first[0] == first[3] and first[1] is None and first[0] != first[2]
    assert first[0].startswith("p_") and len(first[0]) == 18
    assert set(memo) == {"C001", "C002"}
    again = pseudonymize(pd.Series(["C002", "C001"]), b"key", memo)  # from the memo
    assert list(again) == [first[2], first[0]]
    assert list(pseudonymize(ids, b"key")) == list(first)  # the memo changes nothing
    assert pseudonymize(ids, b"other")[0] != first[0]  # keyed


def test_arrow_pseudonyms_equal_the_python_ones_across_columns_and_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from segml.run.lineage import PseudonymColumns, pseudonymize

    columns = [
        pa.array(["C001", None, "C002", "C001"]),
        pa.chunked_array([["C003", "C002"], [None, "C004"]], type=pa.large_string()),
        pa.array([3, None, 17], pa.int64()),  # numeric ids: their text, as pandas writes it
        pa.array([], pa.string()),
    ]
    for key in (b"key", b"other"):
        ids = PseudonymColumns(key)
        with ThreadPoolExecutor(4) as pool:  # one memo shared by threads
            got = list(pool.map(lambda c, p=ids: p(c).to_pylist(), columns * 3))
        for col, out in zip(columns * 3, got, strict=True):
            expected = pseudonymize(col.to_pandas(), key)
            assert out == [None if v is None else v for v in expected]
        assert len(ids._ids) == 6  # C001..C004, "3", "17": each hashed once


def test_pseudonymised_copy_replaces_only_the_ids(tmp_path, monkeypatch) -> None:
    import pandas as pd

    from segml.run import lineage
    from segml.run.lineage import copy_pseudonymized, pseudonymize

    monkeypatch.setattr(lineage, "COPY_BATCH_ROWS", 2)  # tables copied in several batches
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    a = pd.DataFrame({"customer_id": [3, 1, 3], "x": [1.5, None, 2.0], "s": ["a", None, "c"]})
    b = pd.DataFrame({"customer_id": pd.Series(["C1", None, "C2"], dtype="string"), "n": [1, 2, 3]})
    empty = pd.DataFrame({"customer_id": pd.Series([], dtype="string"), "v": pd.Series([], dtype=float)})  # fmt: skip
    a.to_parquet(src / "a.parquet", index=False)
    b.to_parquet(src / "b.parquet", index=False)
    empty.to_parquet(src / "empty.parquet", index=False)
    copy_pseudonymized(src, dst, b"key")
    copied = pd.read_parquet(dst / "empty.parquet")
    assert list(copied.columns) == ["customer_id", "v"] and copied.empty
    for name, frame in (("a", a), ("b", b)):
        out = pd.read_parquet(dst / f"{name}.parquet")
        assert list(out.columns) == list(frame.columns)
        pd.testing.assert_frame_equal(out.drop(columns="customer_id"), frame.drop(columns="customer_id"))  # fmt: skip
        expected = pseudonymize(frame["customer_id"], b"key")
        assert [None if pd.isna(v) else v for v in out["customer_id"]] == list(expected)
    assert not set(map(str, a["customer_id"])) & set(pd.read_parquet(dst / "a.parquet")["customer_id"])  # fmt: skip
