"""Scale controls: threads never change a model, row caps are seeded and stratified, capped
segment fits assign everyone, and steps are timed and announced."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from segml.churn.model import ChurnModel
from segml.clv.supervised import SupervisedCLV
from segml.compute import (
    DeviceError,
    device_default,
    gpu_available,
    n_threads,
    require_device,
    sample_rows,
    thread_default,
    xgb_device,
)
from segml.progress import Laps, collect_steps, reporting, step, track
from segml.segments import AutoKCluster


def _table(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"x{i}" for i in range(8)])
    X["region"] = rng.choice(["north", "south", "east"], n)
    logit = X["x0"] - 0.5 * X["x1"] + (X["region"] == "north") - 2
    y_cls = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    y_val = np.maximum(0, 100 * X["x0"] + 50 * X["x2"] + rng.normal(0, 20, n))
    return X, y_cls, y_val.to_numpy()


# ---------------------------------------------------------------- threads
def test_models_are_identical_whatever_the_thread_count() -> None:
    X, y_cls, y_val = _table()
    one = ChurnModel(n_estimators=60, n_jobs=1, random_state=3).fit(X, y_cls)
    two = ChurnModel(n_estimators=60, n_jobs=2, random_state=3).fit(X, y_cls)
    np.testing.assert_array_equal(one.predict_proba(X), two.predict_proba(X))
    a = SupervisedCLV("tweedie", n_estimators=60, n_jobs=1, seed=3).fit(X, y_val)
    with thread_default(2):  # what `compute.threads` sets for a run
        b = SupervisedCLV("tweedie", n_estimators=60, seed=3).fit(X, y_val)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_thread_default_is_scoped() -> None:
    assert n_threads(3) == 3
    with thread_default(5):
        assert n_threads() == 5 and n_threads(2) == 2
    assert n_threads() == len(os.sched_getaffinity(0))  # outside: the usable cores


# ---------------------------------------------------------------- device
def test_device_default_is_scoped_and_explicit_devices_win() -> None:
    assert xgb_device() is None and xgb_device("cpu") is None  # CPU: xgboost's own default
    with device_default("cuda"):  # what `compute.device: cuda` sets for a run
        assert xgb_device() == "cuda" and xgb_device("cpu") is None
    assert xgb_device() is None
    with pytest.raises(ValueError, match="device must be one of"):
        xgb_device("tpu")
    with pytest.raises(ValueError, match="device must be one of"), device_default("gpu"):
        pass


NO_GPU = pytest.mark.skipif(gpu_available(), reason="a GPU is present: xgboost uses it")


@NO_GPU
def test_a_run_that_asks_for_a_missing_gpu_is_refused() -> None:
    require_device("cpu")
    with pytest.raises(DeviceError, match=r"compute.device is 'cuda'.*compute.device: cpu"):
        require_device("cuda")
    with pytest.raises(DeviceError, match=r"value.device is 'cuda'.*--set value.device=cpu"):
        require_device("cuda", "value.device")


@NO_GPU
def test_every_xgboost_model_is_given_the_run_device(small_bank) -> None:
    """xgboost warns when it is asked for a GPU it cannot see: each model below warns under
    ``device_default("cuda")`` (so the device reaches xgboost) and never outside it."""
    from segml.data import load_bank
    from segml.explain.models import fit_segment_surrogate
    from segml.features import build_features
    from segml.grades.learned import credit_target, fit_credit_model

    X, y_cls, y_val = _table(600)
    bank = load_bank(small_bank)
    f = build_features(bank, "2023-12-31").to_pandas()
    target = credit_target(bank, "2023-12-31")
    target.loc[target.index[:3], "target"] = 1  # the tiny bank may have no event
    fits = {
        "churn": lambda: ChurnModel(n_estimators=5, random_state=0).fit(X, y_cls),
        "clv": lambda: SupervisedCLV("tweedie", n_estimators=5, seed=0).fit(X, y_val),
        "surrogate": lambda: fit_segment_surrogate(X, y_cls, ["x0", "x1"], n_estimators=3, seed=0),
        "grades": lambda: fit_credit_model(f, target, params={"n_estimators": 3}),
    }
    import warnings

    for name, fit in fits.items():
        with warnings.catch_warnings(record=True) as cpu:
            warnings.simplefilter("always")
            fit()
        assert not [w for w in cpu if "GPU" in str(w.message)], name
        with warnings.catch_warnings(record=True) as gpu, device_default("cuda"):
            warnings.simplefilter("always")
            fit()
        assert [w for w in gpu if "GPU" in str(w.message)], f"{name} ignored the device"
        with warnings.catch_warnings(record=True) as pinned, device_default("cuda"):
            warnings.simplefilter("always")
            if name == "churn":  # an explicit device on the estimator wins over the run's
                ChurnModel(n_estimators=5, random_state=0, device="cpu").fit(X, y_cls)
                assert not [w for w in pinned if "GPU" in str(w.message)]


@pytest.mark.skipif(not gpu_available(), reason="needs a CUDA GPU")
def test_gpu_models_train_and_explain_exactly() -> None:
    from segml.explain.treeshap import iter_contributions

    X, y_cls, _ = _table()
    with device_default("cuda"):
        model = ChurnModel(n_estimators=60, random_state=3).fit(X, y_cls)
    p = model.predict_proba(X)[:, 1]
    assert np.isfinite(p).all() and 0 < p.mean() < 1
    frame = model.encoder_.transform(X)
    for _, contrib, margin, rep in iter_contributions(model.booster_, frame, batch_size=1000):
        np.testing.assert_allclose(contrib.sum(axis=1), margin, atol=1e-4)
        assert rep.max_abs_error < 1e-4


# ---------------------------------------------------------------- row caps
def test_sample_rows_is_seeded_sized_and_only_when_needed() -> None:
    assert sample_rows(100, None, 0) is None and sample_rows(100, 100, 0) is None
    a, b = sample_rows(10_000, 1234, seed=7), sample_rows(10_000, 1234, seed=7)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a, b)
    assert len(a) == 1234 and len(np.unique(a)) == 1234 and np.all(np.diff(a) > 0)
    c = sample_rows(10_000, 1234, seed=8)
    assert c is not None and not np.array_equal(a, c)
    with pytest.raises(ValueError, match="max_rows"):
        sample_rows(10, 0, 0)


def test_stratified_sample_keeps_each_class_share() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(50_000) < 0.037).astype(int)  # a rare class, like churn
    keep = sample_rows(len(y), 5_000, seed=1, stratify=y)
    assert keep is not None and len(keep) == 5_000
    assert abs(y[keep].mean() - y.mean()) < 1 / 5_000 + 1e-12
    tiny = np.array([1] + [0] * 999)  # a class of one row is kept
    kept = sample_rows(1000, 10, seed=0, stratify=tiny)
    assert kept is not None and tiny[kept].sum() == 1 and len(kept) == 10


def test_capped_segment_fit_assigns_every_row_and_finds_the_groups() -> None:
    X, truth = make_blobs(6000, n_features=4, centers=3, cluster_std=1.0, random_state=2)
    capped = AutoKCluster("gmm", k=3, fit_size=800, n_bootstrap=0, random_state=0).fit(X)
    assert capped.fit_rows_ == 800 and len(capped.labels_) == 6000
    np.testing.assert_array_equal(capped.labels_, capped.predict(X))
    assert adjusted_rand_score(truth, capped.labels_) > 0.95
    again = AutoKCluster("gmm", k=3, fit_size=800, n_bootstrap=0, random_state=0).fit(X)
    np.testing.assert_array_equal(again.labels_, capped.labels_)
    full = AutoKCluster("gmm", k=3, n_bootstrap=0, random_state=0).fit(X)
    big = AutoKCluster("gmm", k=3, fit_size=10_000, n_bootstrap=0, random_state=0).fit(X)
    assert full.fit_rows_ == big.fit_rows_ == 6000  # a cap above n changes nothing
    np.testing.assert_array_equal(full.labels_, big.labels_)


# ---------------------------------------------------------------- steps and progress
def test_steps_are_collected_and_announced() -> None:
    said: list[str] = []
    with reporting(said.append, bars=False), collect_steps() as steps:
        with step("fit_models", "1,000 rows"):
            pass
        with step("fit_models"):  # a step run twice adds up
            pass
        laps = Laps()
        laps.lap("figures")
        assert list(track(range(3), "batches")) == [0, 1, 2]
    assert set(steps) == {"fit_models", "figures"} and all(v >= 0 for v in steps.values())
    assert said[0] == "  › fit models (1,000 rows)"
    with collect_steps() as quiet, step("alone"):  # no reporter: nothing said, still timed
        pass
    assert list(quiet) == ["alone"] and len(said) == 2


def test_collect_steps_records_a_peak_the_block_no_longer_holds() -> None:
    import time

    from segml.progress import rss_mb

    with collect_steps() as steps:
        start = rss_mb()
        with step("holds"):
            held = np.ones(40_000_000)  # 320 MB, every page touched
            seen = steps._sampler.samples  # wait for the sampler to see it (not a time limit:
            while steps._sampler.samples < seen + 2:  # it samples every PEAK_EVERY seconds)
                time.sleep(0.05)
            del held
        with step("after"):
            pass
    assert steps.peak_mb >= start + 250
    assert rss_mb() < steps.peak_mb  # freed: the peak is remembered, not read now
    assert steps.step_peak_mb["holds"] >= start + 250  # the step that held it, and only it
    assert steps.step_peak_mb["after"] < steps.step_peak_mb["holds"] - 200


def test_release_memory_keeps_the_bank_usable(small_bank) -> None:
    import datetime as dt

    from segml.data import load_bank
    from segml.features import Snapshots

    bank = load_bank(small_bank, reference_date="2026-01-01", memory_limit="1GB")
    snaps = Snapshots(bank)
    before = snaps.features(dt.date(2024, 12, 31))
    labels = snaps.labels(dt.date(2023, 12, 31), 12)
    assert snaps.kept == 2
    assert snaps.features("2024-12-31") is before  # the same date: reused, not rebuilt
    assert snaps.labels(dt.date(2023, 12, 31), 12) is labels
    assert snaps.labels(dt.date(2023, 12, 31), 6) is not labels  # another window: built
    limit = bank.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    snaps.release()
    assert snaps.kept == 0
    assert bank.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == limit
    again = snaps.features(dt.date(2024, 12, 31))  # queries still run, same result
    assert again is not before
    pd.testing.assert_frame_equal(again.to_pandas(), before.to_pandas())


def test_leaf_weight_converts_rows_of_the_rarer_class_into_hessian_weight() -> None:
    from segml.compute import leaf_weight

    y = np.r_[np.ones(30), np.zeros(270)]  # 10% positives: each row weighs 0.1 * 0.9 at first
    weight, rows = leaf_weight(y, 0.5)
    assert rows == 15.0 and weight == pytest.approx(15 * 0.09)
    flipped = leaf_weight(1 - y, 0.5)  # the rarer class, whichever label it has
    assert flipped == (pytest.approx(weight), rows)
    assert leaf_weight(y, 0.0) == (0.0, 0.0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        leaf_weight(y, 1.5)


def test_snapshot_store_maps_the_same_tables_from_disk(small_bank, tmp_path, monkeypatch) -> None:
    import datetime as dt

    from segml.data import load_bank
    from segml.features import Snapshots
    from segml.features import snapshots as snapshots_module

    bank = load_bank(small_bank, reference_date="2026-01-01", memory_limit="1GB")
    day = dt.date(2024, 12, 31)
    in_memory = Snapshots(bank).features(day)
    built = []
    real_build = snapshots_module.build_features

    def counting_build(*args, **kwargs):
        built.append(args[1])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(snapshots_module, "build_features", counting_build)
    store = tmp_path / "store"
    snaps = Snapshots(bank, store=store)
    mapped = snaps.features(day)
    again = snaps.features("2024-12-31")  # the same date: read from the file, not rebuilt
    frame = snaps.frame(day)
    assert built == [day]
    assert [p.name for p in store.iterdir()] == ["features_2024-12-31.arrow"]
    assert mapped.equals(in_memory) and again.equals(in_memory)
    assert mapped.schema == in_memory.schema
    pd.testing.assert_frame_equal(frame, in_memory.to_pandas())
    assert not snaps._features  # nothing of it kept in memory
    assert snaps.kept == 1
    snaps.release()
    assert snaps.kept == 0
    assert (store / "features_2024-12-31.arrow").exists()  # the caller's folder, not deleted
    assert mapped.equals(in_memory)  # a table handed out stays readable


def test_snapshot_frame_owns_its_strings(small_bank, tmp_path) -> None:
    """A stored snapshot's frame holds no slice of the Arrow file's record batches: a string
    column sharing one would keep the whole batch (the table's size) in memory."""
    import datetime as dt

    from segml.data import load_bank
    from segml.features import Snapshots
    from segml.features.snapshots import _own_buffers

    bank = load_bank(small_bank, reference_date="2026-01-01", memory_limit="1GB")
    snaps = Snapshots(bank, store=tmp_path / "store")
    day = dt.date(2024, 12, 31)
    mapped = snaps.features(day)
    frame = snaps.frame(day)

    def slices(df: pd.DataFrame, column: str) -> int:
        """Buffers of the column's Arrow data that are views into a larger buffer (beyond
        Arrow's 64-byte padding)."""
        chunks = df[column].array.__arrow_array__().chunks
        views = [b for c in chunks for b in c.buffers() if b is not None and b.parent is not None]
        return sum(b.parent.size > b.size + 64 for b in views)

    strings = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    assert "customer_id" in strings
    assert all(slices(frame, c) == 0 for c in strings)
    assert slices(mapped.to_pandas(), "customer_id") > 0  # what the check exists to see
    copied = _own_buffers(mapped)
    assert copied.equals(mapped) and copied.schema == mapped.schema
    pd.testing.assert_frame_equal(frame, mapped.to_pandas())
