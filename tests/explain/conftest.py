"""Fixtures of the explanation tests: a small value model fitted on the small bank, and its
explanation of the customers active a year later (module-scoped: built once per test file)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from segml.data import load_bank
from segml.features import build_features
from segml.features.labels import build_labels
from segml.value import ValueScoreModel

T0, T1 = dt.date(2023, 12, 31), dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def data(small_bank: Path) -> dict[str, pd.DataFrame]:
    bank = load_bank(small_bank)
    f0 = build_features(bank, T0).to_pandas()
    l0 = build_labels(bank, T0, 12).to_pandas()
    train = f0[f0.is_active == 1].merge(l0[["customer_id", "holdout_profit"]], on="customer_id")
    pop = build_features(bank, T1).to_pandas()
    pop = pop[pop.is_active == 1].reset_index(drop=True)
    return {"X": train.drop(columns="holdout_profit"), "y": train.holdout_profit, "pop": pop}


@pytest.fixture(scope="module")
def model(data: dict[str, pd.DataFrame]) -> ValueScoreModel:
    return ValueScoreModel(max_depth=3, n_estimators=80, seed=3).fit(data["X"], data["y"])


@pytest.fixture(scope="module")
def explained(model: ValueScoreModel, data: dict[str, pd.DataFrame]):
    return model.explain(data["pop"])
