"""Training snapshots joined and sampled in Arrow give pandas' merge-then-sample, to the bit.

A million-customer snapshot is ~1 GB as a pandas frame and its pandas merge with the labels
another; the model is fitted on a capped sample. ``join_labels`` + ``sample_table`` do the
join and the sampling in Arrow and convert only the kept rows; these tests hold them to the
frames the pandas path made: same rows, same order, same dtypes (an integer column whose
nulls all fall outside the sample stays float, as in the whole table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segml.compute import sample_frame, sample_table, take_frame
from segml.features.snapshots import join_labels


def _features(n: int = 2_000, seed: int = 0, ints: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n) + 10 if ints else np.array([f"C{i:06d}" for i in rng.permutation(n)])
    rare = np.where(rng.random(n) < 0.002, None, rng.integers(0, 9, n)).tolist()
    flag = np.where(rng.random(n) < 0.002, None, rng.random(n) < 0.5).tolist()
    return pa.table(
        {
            "customer_id": ids,
            "x": rng.normal(size=n),
            "n_rare_null": pa.array(rare, pa.int64()),  # nulls in a few rows only
            "flag_rare_null": pa.array(flag, pa.bool_()),
            "region": pa.array(
                rng.choice(["north", "south", None], n).tolist()
            ).dictionary_encode(),  # fmt: skip
            "count": rng.integers(0, 5, n),
        }
    )


def _labels(f: pa.Table, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = f.column("customer_id").to_numpy(zero_copy_only=False)
    keep = rng.permutation(np.flatnonzero(rng.random(len(ids)) < 0.8))  # a subset, shuffled
    return pa.table({"customer_id": ids[keep], "churned": rng.integers(0, 2, len(keep)).astype(np.int8)})  # fmt: skip


@pytest.mark.parametrize("ints", [False, True])
def test_join_labels_is_pandas_inner_merge(ints) -> None:
    f = _features(ints=ints)
    lab = _labels(f)
    rows, y = join_labels(f, lab, ["churned"])
    got = pd.concat([f.take(rows).to_pandas(), y.to_pandas()], axis=1)
    want = f.to_pandas().merge(lab.to_pandas(), on="customer_id", how="inner", validate="one_to_one")  # fmt: skip
    pd.testing.assert_frame_equal(got, want)
    subset = np.arange(0, f.num_rows, 3)  # of given rows: their labelled ones, in their order
    rows_s, y_s = join_labels(f, lab, ["churned"], subset)
    assert set(rows_s) <= set(subset) and (np.diff(rows_s) > 0).all()
    assert rows_s.tolist() == [r for r in rows.tolist() if r % 3 == 0]
    assert y_s.column("churned").to_pylist() == [c for r, c in zip(rows, y.column("churned").to_pylist(), strict=True) if r % 3 == 0]  # fmt: skip


def test_join_labels_refuses_repeated_customers_and_clashing_columns() -> None:
    f = _features(50)
    lab = _labels(f)
    twice = pa.concat_tables([lab, lab.slice(0, 1)])
    with pytest.raises(ValueError, match="more than one row"):
        join_labels(f, twice, ["churned"])
    with pytest.raises(ValueError, match=r"\['x'\] are also feature columns"):
        join_labels(f, lab.append_column("x", pa.array(np.zeros(len(lab)))), ["x"])


@pytest.mark.parametrize("stratify", [None, "churned"])
@pytest.mark.parametrize("cap", [None, 300, 5_000])
def test_sample_table_is_sample_frame_of_the_merge(stratify, cap) -> None:
    f = _features()
    lab = _labels(f)
    merged = f.to_pandas().merge(lab.to_pandas(), on="customer_id", how="inner")
    want = sample_frame(merged, cap, 42, stratify)
    rows, y = join_labels(f, lab, ["churned"])
    got = sample_table(f, cap, 42, stratify, rows=rows, labels=y)
    pd.testing.assert_frame_equal(got, want)


def test_sample_table_of_given_rows_is_sample_frame_of_their_frame() -> None:
    f = _features()
    rows = np.random.default_rng(3).permutation(f.num_rows)[:1_200]
    whole = f.to_pandas()
    want = sample_frame(whole.iloc[rows].reset_index(drop=True), 500, 7, "count")
    pd.testing.assert_frame_equal(sample_table(f, 500, 7, "count", rows=rows), want)


def test_take_frame_keeps_the_whole_tables_dtypes_where_the_rows_have_no_null() -> None:
    f = _features()
    whole = f.to_pandas()
    rows = np.flatnonzero(whole["n_rare_null"].notna() & whole["flag_rare_null"].notna())[:100]
    assert len(rows) == 100
    assert pa.table(f.take(rows)).to_pandas()["n_rare_null"].dtype == np.int64  # the trap
    got = take_frame(f, rows)
    assert got["n_rare_null"].dtype == np.float64 and got["flag_rare_null"].dtype == object
    pd.testing.assert_frame_equal(got, whole.iloc[rows].reset_index(drop=True))


def test_take_frame_of_every_row_is_to_pandas() -> None:
    f = _features(300)
    pd.testing.assert_frame_equal(take_frame(f), f.to_pandas())
    rows = np.array([5, 1, 1, 200])
    pd.testing.assert_frame_equal(
        take_frame(f, rows), f.to_pandas().iloc[rows].reset_index(drop=True)
    )
