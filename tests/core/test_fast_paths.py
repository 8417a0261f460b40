"""Fast paths that must give the slow paths' results to the bit (#22 item 6).

Each one replaced per-row Python or a cache-hostile numpy pattern on a million-customer run;
each test runs both ways on seeded data with the awkward values (missing, unseen, mixed
types) and asserts equality, not closeness.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segml import boosters
from segml.boosters import category_codes, texts
from segml.churn.target import category_key, category_keys
from segml.explain import reasons
from segml.io import connect


def _slow_codes(values: pd.Series, categories: list[str]) -> np.ndarray:
    lookup = {c: float(i) for i, c in enumerate(categories)}
    return np.array([lookup.get(v, np.nan) for v in texts(values)], dtype=float)


@pytest.mark.parametrize("dtype", ["str", "string", "object"])
def test_category_codes_vectorised_equal_per_value(dtype) -> None:
    rng = np.random.default_rng(0)
    raw = rng.choice(["north", "south", "east", "unseen", None], size=5_000).tolist()
    values = pd.Series(raw, dtype=dtype)
    cats = ["east", "north", "south"]
    assert len(values) > boosters.SINGLE_THREAD_ROWS  # the vectorised path runs
    fast = category_codes(values, cats)
    assert np.array_equal(fast, _slow_codes(values, cats), equal_nan=True)
    assert np.isnan(fast[values.isna().to_numpy()]).all()


def test_category_codes_of_mixed_objects_keep_the_per_value_path() -> None:
    values = pd.Series([1, 1.0, True, "1", None] * 400, dtype=object)  # 1 == 1.0 == True
    assert not boosters.is_all_text(values)
    assert np.array_equal(category_codes(values, ["1", "1.0", "True"]),
                          _slow_codes(values, ["1", "1.0", "True"]), equal_nan=True)  # fmt: skip


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["a", "b", None, "a"]),
        pd.Series(["a", "b", None, "a"], dtype="string"),
        pd.Series(["x", None], dtype=object),
        pd.Series([1, 1.0, True, None, 2.5]),  # factorising would merge 1, 1.0 and True
        pd.Series([None, None], dtype=object),
    ],
)
def test_category_keys_equal_the_per_value_keys(values) -> None:
    slow = values.map(category_key).where(values.notna())
    fast = category_keys(values)
    assert fast.equals(slow) and fast.dtype == slow.dtype


def test_numbers_equal_the_columns_one_by_one() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "a": rng.normal(size=50), "t": ["x"] * 50, "b": rng.integers(0, 9, 50),
        "c": pd.array(rng.integers(0, 9, 50), dtype="Int64"), "d": rng.random(50) > 0.5,
    })  # fmt: skip
    frame.loc[3, "a"] = np.nan
    frame.loc[4, "c"] = pd.NA
    for cols in (["a", "b"], ["b", "a", "d"], ["a", "c"], ["c", "d", "a"]):
        expected = np.column_stack([frame[c].to_numpy(dtype=float, na_value=np.nan) for c in cols])
        assert np.array_equal(boosters.numbers(frame, cols), expected, equal_nan=True)


def test_grouped_contributions_in_blocks_equal_the_whole(monkeypatch) -> None:
    rng = np.random.default_rng(2)
    names = ["bal_deposit_last", "bal_deposit_avg_3m", "bal_deposit_avg_12m", "n_tx_30d",
             "n_tx_90d", "amount_30d", "age", "tenure_months"]  # fmt: skip
    values = rng.normal(size=(1_000, len(names)))
    values[rng.random(values.shape) < 0.3] = 0.0
    whole = reasons.group_contributions(values, names)
    monkeypatch.setattr(reasons, "_GROUP_BLOCK", 7)  # blocks that do not divide the rows
    blocked = reasons.group_contributions(values, names)
    assert whole[1] == blocked[1] and whole[2] == blocked[2]
    for a, b in zip((whole[0], whole[3], whole[4]), (blocked[0], blocked[3], blocked[4]), strict=True):  # fmt: skip
        assert np.array_equal(a, b)


def test_connections_turn_off_the_slow_optimizer() -> None:
    con = connect()
    known = {r[0] for r in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    off = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    if "partitioned_execution" in known:
        assert "partitioned_execution" in off


def _slow_leading(values: np.ndarray, needed: np.ndarray, limit: int) -> list:
    """The threshold drivers as first written: sort every row, cumulative sums over it."""
    order = np.argsort(-values, axis=1, kind="stable")
    reach = np.cumsum(np.take_along_axis(values, order, axis=1), axis=1) > needed[:, None]
    count = np.where(reach.any(axis=1), np.argmax(reach, axis=1) + 1, 0)
    return [tuple(row[: min(c, limit)]) if c else None for row, c in zip(order, count, strict=True)]


@pytest.mark.parametrize("groups", [3, 4, 12, 40])
def test_threshold_drivers_from_the_leading_columns_equal_the_full_sort(groups) -> None:
    from segml.explain.thresholds import _fewest, _leading

    rng = np.random.default_rng(groups)
    n, limit = 4_000, 4
    values = np.clip(np.round(rng.normal(size=(n, groups)), 1), 0.0, None)  # ties, many zeros
    values[:50] = 0.0  # whole rows of ties
    values[50:60, : groups // 2] = 0.3
    ordered = -np.sort(-values, axis=1)
    needed = rng.uniform(-0.5, 1.0, n) * values.sum(axis=1)
    needed[100:200] = np.cumsum(ordered[100:200], axis=1)[
        :, -1
    ]  # exactly all of them: not exceeded
    needed[200:220] = np.inf
    needed[220:240] = -np.inf
    values[300:310, 1] = np.nan
    want = _slow_leading(values, needed, limit)
    lead = _leading(values, limit)
    count = _fewest(values, lead, needed)
    got = [tuple(r[: min(c, limit)]) if c else None for r, c in zip(lead, count, strict=True)]
    assert got == want
    assert sum(g is None for g in want) > 100  # the cases each branch decides all occur
    assert sum(g is not None and len(g) > 1 for g in want) > 100
