"""Production safety (issue 18): every failure a user can cause is one clear message, no traceback.

Bad YAML in ``--set``, ``--config``, ``--mapping`` and ``data.mapping``; symbolic link loops,
folders and files in the wrong place as outputs; a full, read-only disk while writing; CSV
formula injection; MLflow telemetry off before MLflow starts.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from segml.cli.main import app
from segml.io import OutputError, atomic_file, atomic_output_dir, output_error
from segml.tables import spreadsheet_safe
from support import make_project

REPO = Path(__file__).resolve().parents[1]
SMALL = REPO / "experiments" / "configs" / "small.yaml"
#: Lines that end in an unclosed flow mapping: the parser complains at line 3.
BAD_YAML = "name: x\ndata: {bad\n"


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_clear_line(res, code: int, *names: str) -> str:
    """Exit ``code``, one ``error:`` line naming each of ``names``, no traceback."""
    message = res.stderr.strip()
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert len(message.splitlines()) == 1 and message.startswith("error: "), message
    for name in names:
        assert name in message, (name, message)
    return message


def write_log(path: Path, ids: list[str] | None = None) -> Path:
    """A small transaction log (cust, day, amt) of 40 customers."""
    rng = np.random.default_rng(1)
    ids = ids or [f"k{c}" for c in range(40)]
    rows = []
    for cust in ids:
        days = np.sort(rng.choice(400, size=int(rng.integers(1, 10)), replace=False))
        rows += [
            (cust, str(dt.date(2020, 1, 1) + dt.timedelta(days=int(d))), f"{rng.gamma(2, 20):.2f}")
            for d in days
        ]
    pd.DataFrame(rows, columns=["cust", "day", "amt"]).to_csv(path, index=False)
    return path


CLV = (
    "--customer-col",
    "cust",
    "--date-col",
    "day",
    "--amount-col",
    "amt",
    "--calibration-end",
    "2020-09-30",
    "--no-supervised",
)


def write_table(path: Path, ids: list[str] | None = None) -> Path:
    """A customer table (id, a, b) of 60 rows in two clear groups."""
    rng = np.random.default_rng(0)
    g = np.repeat([0, 1], 30)
    frame = pd.DataFrame(
        {
            "id": ids or [f"C{i}" for i in range(60)],
            "a": rng.normal(size=60) + 6 * g,
            "b": rng.normal(size=60),
        }
    )
    frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------- 1. bad YAML is a usage error


def test_bad_yaml_in_set_names_the_option_and_the_column() -> None:
    res = invoke("run", "--config", SMALL, "--set", "tiers={bad")
    msg = assert_one_clear_line(res, 2, "--set tiers", "'{bad'", "not valid YAML", "column 5")
    assert "line" not in msg  # one-line value: the column alone
    assert_one_clear_line(invoke("run", "--config", SMALL, "--set", "=5"), 2, "KEY=VALUE")
    res = invoke("run", "--config", SMALL, "--set", "seed.x=1")
    assert_one_clear_line(res, 2, "cannot set seed.x", "seed is a value")


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--config", "{cfg}"],
        [
            "features",
            "--data",
            "{tmp}",
            "--as-of",
            "2024-12-31",
            "--out",
            "{tmp}/o/f.parquet",
            "--config",
            "{cfg}",
        ],
        ["report", "--config", "{cfg}"],
        ["explain", "--run-id", "abc", "--customer", "C1", "--config", "{cfg}"],
        [
            "score",
            "--model",
            "m",
            "--features",
            "{cfg}",
            "--out",
            "{tmp}/o/s.parquet",
            "--config",
            "{cfg}",
        ],
        ["promote", "--config", "{cfg}"],
    ],
    ids=lambda a: a[0],
)
def test_bad_yaml_config_names_the_file_and_line(tmp_path: Path, args: list[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD_YAML)
    res = invoke(*[a.format(cfg=cfg, tmp=tmp_path) for a in args])
    assert_one_clear_line(
        res, 2, str(cfg), "not valid YAML", "line 3, column 1", "line 2, column 7"
    )


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("customers:\n  columns: {customer_id: [bad\n", ["not valid YAML", "line 2, column 26"]),
        ("customers: 5\n", ["'customers'", "keys file, columns, values"]),
        ("- customers\n", ["top level"]),
        ("customers:\n  columns: [customer_id]\n", ["columns must be a mapping"]),
    ],
    ids=["yaml", "table-not-a-mapping", "list", "columns-a-list"],
)
def test_bad_mapping_file_is_a_usage_error(tmp_path: Path, text: str, names: list[str]) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text(text)
    res = invoke("validate", tmp_path, "--mapping", mapping)
    assert_one_clear_line(res, 2, f"--mapping {mapping}", *names)
    out = tmp_path / "o" / "f.parquet"
    res = invoke(
        "features", "--data", tmp_path, "--as-of", "2024-12-31", "--out", out, "--mapping", mapping
    )
    assert_one_clear_line(res, 2, f"--mapping {mapping}", *names)


def test_bad_data_mapping_in_a_config_is_a_usage_error(tmp_path: Path) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text("customers:\n  columns: {customer_id: [bad\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"mapping": str(mapping)}}))
    res = invoke(
        "features",
        "--data",
        tmp_path,
        "--as-of",
        "2024-12-31",
        "--out",
        tmp_path / "o" / "f.parquet",
        "--config",
        cfg,
    )
    assert_one_clear_line(res, 2, f"data.mapping {mapping}", "line 2, column 26")
    project, bank = make_project(tmp_path / "p"), tmp_path / "bank"
    bank.mkdir()
    res = invoke(
        "run",
        "--config",
        project,
        "--set",
        "data.source=folder",
        "--set",
        f"data.path={bank}",
        "--set",
        f"data.mapping={mapping}",
    )
    assert_one_clear_line(res, 2, "data.mapping", str(mapping), "line 2, column 26")


# ------------------------------------------------- 2. link loops, folders and files in the way


@pytest.fixture()
def places(tmp_path: Path) -> dict[str, Path]:
    """Symbolic link loops (``loop``, ``loop.csv``), a folder named like a file and a file."""
    for name in ("loop", "loop.csv"):
        (tmp_path / name).symlink_to(name)
    (tmp_path / "adir.csv").mkdir()
    (tmp_path / "adir.parquet").mkdir()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "in").mkdir()
    return {
        "dir": tmp_path,
        "table": write_table(tmp_path / "in" / "t.csv"),
        "log": write_log(tmp_path / "in" / "log.csv"),
    }


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["segment", "{table}", "--id", "id", "--out", "{dir}/loop.csv"], ["--out", "loop.csv"]),
        (
            ["segment", "{table}", "--id", "id", "--out", "{dir}/loop/x.csv"],
            ["--out", "loop/x.csv"],
        ),
        (["clv", "fit", "--transactions", "{log}", *CLV, "--out", "{dir}/loop/p.csv"], ["--out"]),
        (
            ["clv", "fit", "--transactions", "{log}", *CLV, "--save-model", "{dir}/loop"],
            ["--save-model"],
        ),
        (["clv", "fit", "--transactions", "{log}", *CLV, "--figures", "{dir}/loop"], ["--figures"]),
        (
            [
                "features",
                "--data",
                "{dir}/in",
                "--as-of",
                "2024-12-31",
                "--out",
                "{dir}/loop/f.parquet",
            ],
            ["--out"],
        ),
        (
            [
                "features",
                "--data",
                "{dir}/in",
                "--as-of",
                "2024-12-31",
                "--out",
                "{dir}/f.parquet",
                "--labels-out",
                "{dir}/loop/l.parquet",
            ],
            ["--labels-out"],
        ),
        (["synth", "--out", "{dir}/loop"], ["--out"]),
        (["synth", "--out", "{dir}/loop/bank"], ["--out"]),
        (["convert", "cdnow", "--out", "{dir}/loop"], ["--out"]),
        (
            [
                "churn",
                "train",
                "--table",
                "{table}",
                "--id",
                "id",
                "--target",
                "a",
                "--model-out",
                "{dir}/loop",
            ],
            ["--model-out"],
        ),
        (["segment", "{dir}/loop.csv", "--id", "id", "--out", "{dir}/x.csv"], ["--table"]),
        (
            [
                "score",
                "--model",
                "models:/m@x",
                "--features",
                "{table}",
                "--out",
                "{dir}/loop/s.parquet",
            ],
            ["--out"],
        ),
    ],
    ids=[
        "segment-link",
        "segment-under",
        "clv-out",
        "clv-model",
        "clv-figures",
        "features",
        "labels",
        "synth",
        "synth-under",
        "convert",
        "churn",
        "input-loop",
        "score",
    ],
)
def test_a_symbolic_link_loop_is_named(
    places: dict[str, Path], args: list[str], names: list[str]
) -> None:
    res = invoke(*[a.format(**places) for a in args])
    assert_one_clear_line(res, 2, *names, "a symbolic link loop")
    assert sorted(p.name for p in places["dir"].iterdir()) == [
        "adir.csv",
        "adir.parquet",
        "afile",
        "in",
        "loop",
        "loop.csv",
    ]


def test_a_link_loop_as_output_dir_or_report_is_named(places: dict[str, Path]) -> None:
    from segml.cli.report import check_report_out

    loop = places["dir"] / "loop"
    with pytest.raises(ValueError, match=r"--out .*loop/x.html: a symbolic link loop"):
        check_report_out(loop / "x.html", {}, overwrite=False)
    project = make_project(places["dir"] / "p")
    res = invoke("run", "--config", project, "--set", f"output.dir={loop}")
    assert_one_clear_line(res, 2, f"output.dir {loop}", "a symbolic link loop")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["segment", "{table}", "--id", "id", "--out", "{dir}/adir.csv"],
            "--out {dir}/adir.csv is a folder",
        ),
        (
            ["clv", "fit", "--transactions", "{log}", *CLV, "--out", "{dir}/adir.csv"],
            "--out {dir}/adir.csv is a folder",
        ),
        (
            [
                "features",
                "--data",
                "{dir}/in",
                "--as-of",
                "2024-12-31",
                "--out",
                "{dir}/adir.parquet",
            ],
            "--out {dir}/adir.parquet is a folder",
        ),
        (
            ["segment", "{table}", "--id", "id", "--out", "{dir}/afile/x.csv"],
            "{dir}/afile is a file, not a folder",
        ),
        (["synth", "--out", "{dir}/afile"], "--out {dir}/afile is a file: give a folder"),
        (
            ["convert", "cdnow", "--out", "{dir}/afile"],
            "--out {dir}/afile is a file: give a folder",
        ),
        (
            [
                "churn",
                "train",
                "--table",
                "{table}",
                "--id",
                "id",
                "--target",
                "a",
                "--model-out",
                "{dir}/afile",
            ],
            "--model-out {dir}/afile is a file",
        ),
    ],
    ids=["segment", "clv", "features", "file-on-the-way", "synth", "convert", "churn"],
)
def test_folders_and_files_in_the_way_are_named(
    places: dict[str, Path], args: list[str], message: str
) -> None:
    res = invoke(*[a.format(**places) for a in args])
    assert_one_clear_line(res, 2, message.format(**places))


# ----------------------------------------------------------- 3. a full or read-only disk


def mount_tmpfs(where: Path, options: str) -> None:
    """Mount a small tmpfs at ``where``; skip the test where that is impossible (not root)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


@pytest.fixture()
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB file system filled to the last byte (``filler``): every write fails ENOSPC."""
    where = tmp_path / "full"
    mount_tmpfs(where, "size=64k")
    try:
        fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture()
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "ro"
    mount_tmpfs(where, "ro,size=64k")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def only_the_filler(full: Path) -> bool:
    return [p.name for p in full.rglob("*") if not p.is_dir()] == ["filler"]


@pytest.mark.slow
def test_full_disk_is_named_and_leaves_nothing(full_disk: Path, tmp_path: Path) -> None:
    table, log = write_table(tmp_path / "t.csv"), write_log(tmp_path / "log.csv")
    cases = [
        (["segment", table, "--id", "id", "--k", "2", "--out", full_disk / "seg.csv"], "seg.csv"),
        (
            ["segment", table, "--id", "id", "--k", "2", "--out", full_disk / "seg.parquet"],
            "seg.parquet",
        ),
        (["clv", "fit", "--transactions", log, *CLV, "--out", full_disk / "p.csv"], "p.csv"),
        (["clv", "fit", "--transactions", log, *CLV, "--figures", full_disk / "figs"], "figs/"),
        (["synth", "--customers", "50", "--out", full_disk / "bank"], "bank"),
        (["convert", "cdnow", "--out", full_disk / "cdnow"], "cdnow"),
    ]
    for args, name in cases:
        res = invoke(*args)
        msg = assert_one_clear_line(res, 1, f"cannot write {full_disk}/", name)
        assert "No space left on device (ENOSPC)" in msg and "nothing was written" in msg
        assert only_the_filler(full_disk), list(full_disk.rglob("*"))


@pytest.mark.slow
def test_full_disk_churn_model_is_named(full_disk: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = tmp_path / "ch.csv"
    pd.DataFrame(
        {
            "id": [f"C{i}" for i in range(200)],
            "x": rng.normal(size=200),
            "y": rng.integers(0, 2, 200),
        }
    ).to_csv(table, index=False)
    res = invoke(
        "churn",
        "train",
        "--table",
        table,
        "--id",
        "id",
        "--target",
        "y",
        "--cv",
        "2",
        "--model-out",
        full_disk / "model",
    )
    assert_one_clear_line(res, 1, f"cannot write {full_disk / 'model'}", "ENOSPC")
    assert only_the_filler(full_disk)


def test_full_disk_review_pack_is_named(full_disk: Path) -> None:
    """``segml report`` writes through :func:`write_report`; its CLI prints this message."""
    from types import SimpleNamespace

    from segml.report.build import write_report

    with pytest.raises(OutputError, match=rf"cannot write {full_disk / 'r.html'}: No space"):
        write_report(SimpleNamespace(html="<p>pack</p>" * 10_000), full_disk / "r.html")
    assert only_the_filler(full_disk)


def test_full_disk_features_leaves_neither_file(
    full_disk: Path, small_bank: Path, tmp_path: Path
) -> None:
    out = tmp_path / "f.parquet"
    res = invoke(
        "features",
        "--data",
        small_bank,
        "--as-of",
        "2024-12-31",
        "--out",
        out,
        "--labels-out",
        full_disk / "labels.parquet",
    )
    assert_one_clear_line(res, 1, f"cannot write {full_disk / 'labels.parquet'}", "ENOSPC")
    assert not out.exists() and only_the_filler(full_disk)


def test_read_only_disk_is_named_before_any_work(read_only_disk: Path, tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv")
    res = invoke("segment", table, "--id", "id", "--out", read_only_disk / "x.csv")
    assert_one_clear_line(res, 2, f"--out {read_only_disk / 'x.csv'}", "read-only file system")
    res = invoke("synth", "--out", read_only_disk / "bank")
    assert_one_clear_line(res, 2, f"--out {read_only_disk / 'bank'}", "read-only file system")


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (errno.ENOSPC, "No space left on device (ENOSPC)"),
        (errno.EDQUOT, "(EDQUOT)"),
        (errno.EROFS, "Read-only file system (EROFS)"),
        (errno.EACCES, "Permission denied (EACCES)"),
    ],
)
def test_atomic_writers_name_the_path_and_the_cause(tmp_path: Path, code: int, cause: str) -> None:
    """Where no file system can be filled (not root): the same messages from a failing write."""

    def refuse(path: Path) -> None:
        path.write_text("half")
        raise OSError(code, os.strerror(code))

    said = re.escape(cause)
    with (
        pytest.raises(OutputError, match=rf"cannot write .*out.csv: .*{said}; nothing was"),
        atomic_file(tmp_path / "out.csv") as tmp,
    ):
        refuse(tmp)
    with (
        pytest.raises(OutputError, match=rf"cannot write .*folder: .*{said}"),
        atomic_output_dir(tmp_path / "folder") as tmp,
    ):
        refuse(tmp / "part.parquet")
    assert list(tmp_path.iterdir()) == []  # no output, no temporary left
    err = output_error(OSError(code, "x"), tmp_path / "y")
    assert isinstance(err, OSError) and err.errno == code and output_error(err, "z") is err


# ------------------------------------------------------------------------ 4. CSV injection

FORMULAS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]
PLAIN = ["-5.2", "+44", "plain", ""]


def test_csv_outputs_neutralise_formulas_and_keep_numbers(tmp_path: Path) -> None:
    ids = FORMULAS + PLAIN[:3] + [f"C{i}" for i in range(60 - len(FORMULAS) - 3)]
    table = tmp_path / "t.parquet"  # Parquet: the ids arrive exactly as written here
    pd.read_csv(write_table(tmp_path / "t.csv"), dtype={"id": str}).assign(id=ids).to_parquet(table)
    out, pq_out = tmp_path / "seg.csv", tmp_path / "seg.parquet"
    for target in (out, pq_out):
        res = invoke("segment", table, "--id", "id", "--k", "2", "--out", target)
        assert res.exit_code == 0, res.output
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    written = [r[0] for r in rows[1:]]
    assert written[: len(FORMULAS)] == ["'" + v for v in FORMULAS]
    assert written[len(FORMULAS) : len(FORMULAS) + 3] == PLAIN[:3]  # numbers, plain text
    assert {r[1] for r in rows[1:]} == {"0", "1"}
    assert list(pd.read_parquet(pq_out)["id"]) == ids  # Parquet: values as they are

    log = write_log(
        tmp_path / "log.csv", ["=HYPERLINK(x)", "@me", "-7"] + [f"k{c}" for c in range(37)]
    )
    res = invoke("clv", "fit", "--transactions", log, *CLV, "--out", tmp_path / "p.csv")
    assert res.exit_code == 0, res.output
    written = pd.read_csv(tmp_path / "p.csv", dtype={"customer_id": str})
    assert {"'=HYPERLINK(x)", "'@me", "-7"} <= set(written["customer_id"])
    assert pd.api.types.is_float_dtype(written["clv"])


def test_spreadsheet_safe_changes_text_only() -> None:
    frame = pd.DataFrame(
        {
            "id": FORMULAS + PLAIN,
            "value": np.linspace(-5.2, 3, 10),
            "kind": pd.Categorical(["=x"] * 5 + ["y"] * 5),
            "=name": [1, "=2", 3.5, None, *"abcdef"],
        },
        index=pd.Index(["=i", *map(str, range(9))], name="row"),
    )
    before = frame.copy()
    safe = spreadsheet_safe(frame)
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is untouched
    assert list(safe["id"]) == ["'" + v for v in FORMULAS] + PLAIN
    assert safe["value"].dtype == float and safe["value"].iloc[0] == -5.2
    assert list(safe["kind"].iloc[:5]) == ["'=x"] * 5
    assert list(safe.columns) == ["id", "value", "kind", "'=name"]
    assert safe["'=name"].tolist()[:3] == [1, "'=2", 3.5]
    assert safe.index[0] == "'=i" and safe.index.name == "row"


# ------------------------------------------------------------------------ 5. MLflow telemetry


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter with a bare environment (no CI variables)."""
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**base, **env}, cwd="/"
    )


@pytest.mark.slow
def test_importing_segml_turns_mlflow_telemetry_off_before_mlflow_starts() -> None:
    r = _python(
        "import os, segml, mlflow\n"
        "from mlflow.telemetry import get_telemetry_client\n"
        "from mlflow.telemetry import utils\n"
        "assert not getattr(utils, '_IS_IN_CI_ENV_OR_TESTING', False)  # it is segml's setting\n"
        "assert os.environ['MLFLOW_DISABLE_TELEMETRY'] == 'true', os.environ\n"
        "assert os.environ['DO_NOT_TRACK'] == '1'\n"
        "assert utils.is_telemetry_disabled() and get_telemetry_client() is None\n"
    )
    assert r.returncode == 0, r.stderr


def test_a_users_telemetry_setting_is_kept() -> None:
    r = _python(
        "import os, segml\n"
        "assert os.environ['MLFLOW_DISABLE_TELEMETRY'] == 'false'\n"
        "assert os.environ['DO_NOT_TRACK'] == '0'\n",
        MLFLOW_DISABLE_TELEMETRY="false",
        DO_NOT_TRACK="0",
    )
    assert r.returncode == 0, r.stderr


# ----------------------------------------------------------------------------- segml score
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved pyfunc model whose signature reads ``customer_id`` (text), ``nii_12m`` (a
    number) and ``is_active`` (a whole number), all optional as segml declares them."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    class Ids(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input[["customer_id"]]

    spec = [("string", "customer_id"), ("double", "nii_12m"), ("long", "is_active")]
    signature = ModelSignature(Schema([ColSpec(t, c, required=False) for t, c in spec]))
    path = tmp_path_factory.mktemp("tiny") / "model"
    with warnings.catch_warnings():  # MLflow's advice on type hints and input examples
        warnings.simplefilter("ignore", UserWarning)
        mlflow.pyfunc.save_model(str(path), python_model=Ids(), signature=signature, pip_requirements=[])  # fmt: skip
    return path


def test_score_names_missing_columns_and_wrong_types_first_in_one_line(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    cfg = make_project(tmp_path)
    good = pd.DataFrame({"customer_id": ["a", "b"], "nii_12m": [1.0, 2.0], "is_active": [1, 0]})
    lacking = "lacks 2 required columns: is_active, nii_12m (is_active: 1 if the relationship is open"  # fmt: skip
    wrong = "has 2 columns of the wrong type: nii_12m (text; the model reads double), is_active (double; the model reads long)"  # fmt: skip
    cases = [(lacking, good[["customer_id"]]), (wrong, good.assign(nii_12m=["x", "y"], is_active=[1.0, 0.0]))]  # fmt: skip
    for i, (message, frame) in enumerate(cases):
        frame.to_parquet(src := tmp_path / f"f{i}.parquet")
        out = tmp_path / f"s{i}.parquet"
        res = invoke("score", "--model", tiny_model, "--features", src, "--out", out, "--config", cfg)  # fmt: skip
        assert assert_one_clear_line(res, 1).startswith(f"error: {src} {message}")
        assert not out.exists()
    good.to_parquet(src := tmp_path / "good.parquet")
    res = invoke("score", "--model", tiny_model, "--features", src, "--out", out, "--config", cfg)
    assert res.exit_code == 0, res.output
    assert list(pd.read_parquet(out).customer_id) == ["a", "b"]
