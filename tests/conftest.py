"""Shared fixtures: small seeded synthetic banks, generated once per test session."""

from __future__ import annotations

import os

# Before anything loads xgboost's OpenMP runtime (the tests' own process and every `segml`
# subprocess inherit it): idle OpenMP threads sleep instead of spinning. On a busy machine a
# spinning team of threads waits for its busy-waiting siblings at every tree level (a 2-fold
# churn cross-validation took 187 s instead of 7 s at load 9 on 2 cores); results are unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import atexit
import shutil
import tempfile

# The validation cache of this session (segml.validation_cache): its own folder, inherited by
# every `segml` subprocess, so the suite never reads nor fills a developer's ~/.cache/segml.
os.environ["SEGML_CACHE_DIR"] = tempfile.mkdtemp(prefix="segml-test-cache-")

from pathlib import Path

import pytest
from hypothesis import settings

from segml.synth import SynthConfig, generate

atexit.register(shutil.rmtree, os.environ["SEGML_CACHE_DIR"], ignore_errors=True)

# A busy machine is slow, not broken: no property test fails on hypothesis's per-example clock.
settings.register_profile("segml", deadline=None)
settings.load_profile("segml")

REPO = Path(__file__).resolve().parents[1]

#: A test whose setup and call take longer than this is marked ``slow`` (docs/testing.md).
SLOW_S = 5.0
_unmarked: dict[str, float] = {}


#: Files whose tests share no costly module fixture: under xdist each of their tests is a
#: scheduling unit of its own, run last, by whichever worker is free (a notebook's test takes
#: 20 s: the file as one unit left the other worker idle at the end of the suite).
SPREAD = ("tests/notebooks/test_notebooks.py",)
#: The costliest files (a real ``segml run`` or a served model in a module fixture), started
#: first so that none of them is what a worker is left running alone at the end.
HEAVY = ("tests/run/test_pipeline.py", "tests/report/test_report.py",
         "tests/serving/test_serving.py", "tests/test_data_shapes.py", "tests/run/test_spark.py",
         "tests/segments/test_segments.py", "tests/core/test_validate.py")  # fmt: skip


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heaviest files first, then the rest, the spread tests last (a stable sort: each
    file's tests keep their order)."""

    def rank(item: pytest.Item) -> int:
        f = _file(item.nodeid)
        return HEAVY.index(f) if f in HEAVY else len(HEAVY) + (f in SPREAD)

    items.sort(key=rank)


@pytest.hookimpl(optionalhook=True)  # without xdist (-p no:xdist) there is no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadfile`` with the tests of :data:`SPREAD` distributed one by one: each file
    runs whole on one worker (its module fixtures are built once), in collection order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndSpreadTests(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if _file(nodeid) in SPREAD else _file(nodeid)

    return FilesAndSpreadTests(config, log)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up the setup and call time of each test not marked ``slow`` (module fixtures count
    for the first test that needs them: `make test-fast` pays for them too)."""
    if report.when in ("setup", "call") and "slow" not in report.keywords:
        _unmarked[report.nodeid] = _unmarked.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the unmarked tests that took longer than SLOW_S (a report, never a failure: on a
    busy machine every test is slower)."""
    over = sorted(((s, n) for n, s in _unmarked.items() if s > SLOW_S), reverse=True)
    if over:
        terminalreporter.section(f"not marked slow, over {SLOW_S:g} s here")
        for seconds, nodeid in over:
            terminalreporter.write_line(f"{seconds:6.1f}s {nodeid}")


@pytest.fixture(scope="session")
def small_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 600-customer synthetic bank (read-only: copy it before changing anything)."""
    out = tmp_path_factory.mktemp("banks") / "small"
    generate(SynthConfig(customers=600, seed=11, chunk_size=250), out)
    return out


@pytest.fixture()
def bank_copy(small_bank: Path, tmp_path: Path) -> Path:
    """A private copy of the small bank's contract tables (without ground truth)."""
    out = tmp_path / "bank"
    out.mkdir()
    for f in small_bank.glob("*.parquet"):
        if f.name != "ground_truth.parquet":
            shutil.copy(f, out / f.name)
    return out


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary (module-scoped and asked for first: a skip costs no pipeline run)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("chromium is not on PATH (Debian: apt-get install chromium)")
