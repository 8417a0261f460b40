"""Code tests on the project itself: setup files agree, docs cover the contract, lint is clean."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker

from segml.contract import CONTRACT

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
write_environment = importlib.import_module("write_environment")


def test_environment_yml_carries_the_whole_lock_and_java() -> None:
    from packaging.requirements import Requirement

    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "openjdk=17" in conda and "python=3.11" in conda and "pip" in conda
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert pip[-1] == "-e ."
    listed = set()
    for item in pip[:-1]:
        req = Requirement(item)
        (spec,) = req.specifier
        assert spec.operator == "==", item
        listed.add((write_environment.canonical(req.name), spec.version, str(req.marker or "")))
    locked = set()
    for line in write_environment.lock_lines():
        req = Requirement(line)
        (spec,) = req.specifier
        locked.add((write_environment.canonical(req.name), spec.version, str(req.marker or "")))
    assert listed == locked  # every package of the lock, direct and transitive, same pins
    lock = [ln for ln in (REPO / "requirements.lock").read_text().splitlines() if "==" in ln]
    assert len(pip) - 1 == len(lock) > 100
    # on the target (Linux, Python 3.11) the pins pip picks are the lock's, direct ones included
    pins = write_environment.locked_versions()
    assert set(write_environment.direct_dependencies()) <= set(pins)
    on_target = {
        n: v for n, v, m in listed if not m or Marker(m).evaluate(write_environment.TARGET)
    }
    assert on_target == pins
    assert (REPO / "environment.yml").read_text() == write_environment.render(), (
        "run: python tools/write_environment.py"
    )


def test_lock_pins_every_package_exactly() -> None:
    lines = [
        ln
        for ln in (REPO / "requirements.lock").read_text().splitlines()
        if ln and not ln.lstrip().startswith("#")
    ]
    assert lines and all("==" in ln for ln in lines)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_the_targets() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True).stdout
    for target in ("demo", "test", "lab", "ui", "lint", "bench", "setup"):
        assert re.search(rf"make {target}\b", out), target


def _dry_run(*args: str) -> str:
    """What ``make -n`` would run (nothing is run), stdout and stderr together."""
    r = subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def _jupyter_line(out: str) -> str:
    (line,) = [ln for ln in out.splitlines() if "jupyter lab" in ln]
    return line


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_allows_root_when_run_as_root() -> None:
    uid = subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip()
    said = "starting JupyterLab with --allow-root"
    out = _dry_run("lab")
    if uid == "0":  # JupyterLab refuses root without the flag: make lab passes it, and says so
        assert "--allow-root" in _jupyter_line(out) and said in out
    else:
        assert "--allow-root" not in out
    out = _dry_run("lab", "LAB_UID=1000")  # an ordinary user: no flag, no line
    assert "--allow-root" not in out and said not in out
    out = _dry_run("lab", "LAB_UID=1000", "JUPYTER_ALLOW_ROOT=1", "LAB_ARGS=--port 8899")
    assert _jupyter_line(out).split()[-3:] == ["--allow-root", "--port", "8899"]
    assert said in out
    help_text = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True)
    assert "--allow-root" in help_text.stdout and "JUPYTER_ALLOW_ROOT=1" in help_text.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_reuses_an_unchanged_run_unless_forced() -> None:
    (run,) = [ln for ln in _dry_run("demo").splitlines() if "segml run" in ln]
    assert run.split()[-1] == "--reuse"
    (run,) = [ln for ln in _dry_run("demo", "FORCE=1").splitlines() if "segml run" in ln]
    assert "--reuse" not in run
    help_text = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True)
    assert "FORCE=1" in help_text.stdout


def test_ci_runs_make_test() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", script, re.M)


def test_readme_leads_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert text.index("make demo") < text.index("## ")
    assert "make test" in text
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (REPO / link).is_file(), link


def test_data_contract_doc_covers_every_table_and_column() -> None:
    doc = (REPO / "docs" / "data_contract.md").read_text()
    write_contract_doc = importlib.import_module("write_contract_doc")
    assert doc == write_contract_doc.render(), "run: python tools/write_contract_doc.py"
    for table in CONTRACT.values():
        assert f"`{table.name}`" in doc, table.name
        section = doc.split(f"### `{table.name}`", 1)[1].split("\n### ", 1)[0]
        for col in table.columns:
            assert f"`{col.name}`" in section, f"{table.name}.{col.name}"


def test_features_doc_is_generated_from_the_catalogue() -> None:
    write_features_doc = importlib.import_module("write_features_doc")
    doc = (REPO / "docs" / "features.md").read_text()
    assert doc == write_features_doc.render(), "run: python tools/write_features_doc.py"


def test_data_folders_exist_and_are_ignored() -> None:
    for sub in ("raw", "interim", "processed"):
        assert (REPO / "data" / sub).is_dir()
    ignore = (REPO / ".gitignore").read_text()
    assert "data/raw/*" in ignore and "experiments/*" in ignore


def test_ruff_lint_is_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    r = subprocess.run(
        [str(ruff), "check", "src", "tests", "benchmarks", "tools"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_import_has_no_side_effects() -> None:
    code = (
        "import io, contextlib, os, sys\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):\n"
        "    import segml, segml.cli.main, segml.run.pipeline, segml.synth, segml.validate, segml.loaders\n"
        "assert buf.getvalue() == '', buf.getvalue()\n"
        "assert 'MLFLOW_TRACKING_URI' not in os.environ\n"
        "import mlflow\n"
        "assert not mlflow.tracking._tracking_service.utils.is_tracking_uri_set()\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/"
    )
    assert r.returncode == 0, r.stderr
