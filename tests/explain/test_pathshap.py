"""The leaf-table TreeSHAP (segml.explain.pathshap) against xgboost's own TreeSHAP, the oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from segml.boosters import SINGLE_THREAD_ROWS, frame_array
from segml.explain.pathshap import contributions, leaf_tables, table_contributions
from segml.explain.treeshap import batch_contributions


def _close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal to xgboost's float32 arithmetic: 1e-5 of the largest contribution."""
    assert ours.shape == theirs.shape
    scale = 1.0 + float(np.abs(theirs).max())
    assert float(np.abs(ours - theirs).max()) <= 1e-5 * scale


def _data(seed: int, n: int = 600, p: int = 5, missing: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 1] = np.round(X[:, 1], 1)  # ties on split values
    X[rng.random((n, p)) < missing] = np.nan
    return X


def _target(X: np.ndarray) -> np.ndarray:
    Z = np.nan_to_num(X)
    return Z[:, 0] * Z[:, 1] + np.sin(3 * Z[:, 2]) + (Z[:, 3] > 0.5) * 2.0


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 6, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_regression_trees_of_any_depth_match_xgboost(depth: int, seed: int) -> None:
    X = _data(seed)
    params = {"max_depth": depth, "eta": 0.3, "seed": seed, "nthread": 1, "base_score": 0.7}
    bst = xgb.train(params, xgb.DMatrix(X, label=_target(X)), 12)
    new = _data(seed + 100, n=300)  # rows the trees never saw, missing values included
    theirs = bst.predict(xgb.DMatrix(new), pred_contribs=True)
    _close(contributions(leaf_tables(bst), new), theirs[:, :-1])
    full = table_contributions(bst, xgb.DMatrix(new), new)
    _close(full, theirs)
    assert full[:, -1] == pytest.approx(theirs[:, -1], abs=1e-6)  # xgboost's own bias


def test_few_features_repeat_on_a_path() -> None:
    X = _data(3, p=2, missing=0.0)  # depth 6 over 2 features: every path repeats them
    bst = xgb.train({"max_depth": 6, "seed": 3}, xgb.DMatrix(X, label=_target(np.c_[X, X])), 8)
    tables = leaf_tables(bst)
    assert tables is not None and int(tables.n_slots.max()) == 2 < int(tables.depth.max())
    _close(contributions(tables, X), bst.predict(xgb.DMatrix(X), pred_contribs=True)[:, :-1])


def test_logistic_model_with_early_stopping_range() -> None:
    X = _data(4)
    y = (_target(X) > 0.5).astype(float)
    params = {"objective": "binary:logistic", "max_depth": 4, "seed": 4, "eta": 0.2}
    bst = xgb.train(params, xgb.DMatrix(X, label=y), 30)
    d = xgb.DMatrix(X)
    for stop in (0, 7, 30):
        theirs = bst.predict(d, pred_contribs=True, iteration_range=(0, stop))
        _close(table_contributions(bst, d, X, (0, stop)), theirs)
    assert table_contributions(bst, d, X, (5, 10)) is None  # not from the first tree: xgboost's


def test_absolute_error_leaves_refitted_after_the_split() -> None:
    X = _data(5)
    y = _target(X) + np.random.default_rng(5).standard_t(2, size=len(X))
    bst = xgb.train({"objective": "reg:absoluteerror", "max_depth": 3, "seed": 5}, xgb.DMatrix(X, label=y), 20)  # fmt: skip
    d = xgb.DMatrix(X)
    _close(table_contributions(bst, d, X), bst.predict(d, pred_contribs=True))


@pytest.mark.parametrize("onehot", [1, 64])  # partition splits, one-hot splits
def test_categorical_splits_match_xgboost(onehot: int) -> None:
    rng = np.random.default_rng(6)
    n = 800
    frame = pd.DataFrame(
        {
            "kind": pd.Categorical(rng.choice(list("abcdefg"), n), categories=list("abcdefg")),
            "x": rng.normal(size=n),
            "band": pd.Categorical(
                rng.choice(["lo", "mid", "hi", None], n), categories=["lo", "mid", "hi"]
            ),  # fmt: skip
        }
    )
    effect = frame["kind"].map(dict(zip("abcdefg", [3, -1, 0, 2, -2, 1, 5], strict=True))).astype(float)  # fmt: skip
    y = effect + frame["x"] + (frame["band"] == "hi") * 1.5
    params = {"max_depth": 4, "seed": 6, "max_cat_to_onehot": onehot, "tree_method": "hist"}
    d = xgb.DMatrix(frame, label=y, enable_categorical=True)
    bst = xgb.train(params, d, 15)
    data, _ = frame_array(frame)
    theirs = bst.predict(xgb.DMatrix(frame, enable_categorical=True), pred_contribs=True)
    _close(table_contributions(bst, xgb.DMatrix(frame, enable_categorical=True), data), theirs)
    rare = frame.iloc[:50].assign(kind=pd.Categorical(["g"] * 50, categories=list("abcdefg")))
    theirs = bst.predict(xgb.DMatrix(rare, enable_categorical=True), pred_contribs=True)
    ours, _, _ = batch_contributions(bst, rare)
    _close(ours, theirs)


def test_models_it_cannot_read_fall_back_to_xgboost() -> None:
    X = _data(7)
    y = np.digitize(_target(X), [-0.5, 0.5])
    multi = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2}, xgb.DMatrix(X, label=y), 3)  # fmt: skip
    assert leaf_tables(multi) is None
    assert table_contributions(multi, xgb.DMatrix(X), X) is None
    forest = xgb.train({"num_parallel_tree": 3, "max_depth": 2, "subsample": 0.5}, xgb.DMatrix(X, label=_target(X)), 2)  # fmt: skip
    assert leaf_tables(forest) is None
    assert table_contributions(forest, xgb.DMatrix(X), None) is None  # no float rows given


def test_threads_do_not_change_a_contribution() -> None:
    X = _data(8, n=SINGLE_THREAD_ROWS * 3)
    bst = xgb.train({"max_depth": 5, "seed": 8}, xgb.DMatrix(X, label=_target(X)), 10)
    tables = leaf_tables(bst)
    one, two = contributions(tables, X, n_jobs=1), contributions(tables, X, n_jobs=2)
    assert np.array_equal(one, two)
    _close(one, bst.predict(xgb.DMatrix(X), pred_contribs=True)[:, :-1])


def test_wrong_width_is_refused() -> None:
    X = _data(9)
    bst = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=_target(X)), 2)
    with pytest.raises(ValueError, match="5 features"):
        contributions(leaf_tables(bst), X[:, :4])


def test_compiled_kernels_are_cached_in_the_users_cache_not_beside_the_source(tmp_path, monkeypatch) -> None:  # fmt: skip
    from segml.explain.pathshap_kernels import cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" / "segml" / "numba"
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    assert cache_dir() is None  # cannot be written: compiled in each process instead
    import segml.explain as package

    contributions(leaf_tables(xgb.train({"max_depth": 2}, xgb.DMatrix(_data(10), label=np.ones(600)), 2)), _data(10))  # fmt: skip
    assert not list((Path(package.__file__).parent / "__pycache__").glob("*.nb*"))
