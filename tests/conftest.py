"""Shared fixtures: small seeded synthetic banks, generated once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from segml.synth import SynthConfig, generate

REPO = Path(__file__).resolve().parents[1]


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
