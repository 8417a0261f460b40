"""Shared fixtures: small seeded synthetic banks, generated once per test session."""

from __future__ import annotations

import os

# Before anything loads xgboost's OpenMP runtime (the tests' own process and every `segml`
# subprocess inherit it): idle OpenMP threads sleep instead of spinning. On a busy machine a
# spinning team of threads waits for its busy-waiting siblings at every tree level (a 2-fold
# churn cross-validation took 187 s instead of 7 s at load 9 on 2 cores); results are unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from segml.synth import SynthConfig, generate

# A busy machine is slow, not broken: no property test fails on hypothesis's per-example clock.
settings.register_profile("segml", deadline=None)
settings.load_profile("segml")

REPO = Path(__file__).resolve().parents[1]

#: A test whose setup and call take longer than this is marked ``slow`` (docs/testing.md).
SLOW_S = 5.0
_unmarked: dict[str, float] = {}


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
