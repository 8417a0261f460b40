"""How much of the machine a run uses: threads and device for xgboost, row caps for fitting.

These rules keep a large bank on one machine without changing the method, and put the models
on a GPU where there is one:

* **Threads.** xgboost's ``hist`` trees and TreeSHAP use every core by default
  (:func:`n_threads`). Results do not depend on the thread count: xgboost builds the same trees
  and the same contributions with 1 or many threads (tests/core/test_compute.py checks it bit for
  bit), so a run stays deterministic on any machine.
* **Device.** ``compute.device: cuda`` makes every xgboost model train and compute TreeSHAP
  on the GPU (:func:`xgb_device`, set for a run by :func:`device_default`); :func:`require_device`
  refuses a run that asks for a GPU the machine does not have, instead of letting xgboost fall
  back to the CPU with a warning. GPU and CPU ``hist`` trees are not guaranteed to be
  bit-identical (summation order), so a run is deterministic per device.
* **Row caps.** Fitting a model on a seeded random sample of at most ``max_rows`` rows
  (:func:`sample_rows`) bounds the cost of training and model selection; the fitted model then
  scores every customer. Past a few hundred thousand rows a gradient-boosted model or a mixture
  learns little more from another row, while the cost grows linearly
  (``benchmarks/bench_caps.py``: on a 100k bank, value and churn test metrics are flat past
  25,000-50,000 training rows; on a 1M bank 150,000 rows gain 0.004 of churn AUC over 50,000,
  the run's default; docs/scaling.md). A stratified sample keeps each class's share
  exactly (to the row), so probability calibration is unaffected.
* **Independent fits side by side.** :func:`thread_map` runs independent numpy fits (the
  candidate segment models, their bootstrap refits) on :func:`n_threads` Python threads, each
  with one BLAS/OpenMP thread: numpy releases the GIL in its loops, and each fit is seeded on
  its own, so the results are those of the loop, in its order.
* **Memory given back.** Arrow's allocator (mimalloc) keeps freed memory for reuse: after a
  1M-customer feature table went through pandas and was dropped, ~700 MB stayed with the
  process. :func:`give_back_memory` returns it, and what glibc's ``malloc`` kept; the run
  calls it after every step.
"""

from __future__ import annotations

import functools
import gc
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "DEVICES",
    "DeviceError",
    "device_default",
    "give_back_memory",
    "gpu_available",
    "leaf_weight",
    "n_threads",
    "thread_map",
    "require_device",
    "sample_frame",
    "sample_rows",
    "sample_table",
    "take_frame",
    "thread_default",
    "xgb_device",
]

_DEFAULT: ContextVar[int | None] = ContextVar("segml_threads", default=None)
_DEVICE: ContextVar[str | None] = ContextVar("segml_device", default=None)
#: Devices a model may be given (xgboost's names).
DEVICES = ("cpu", "cuda")


class DeviceError(RuntimeError):
    """A run asked for a device this machine does not have."""


@contextmanager
def thread_default(n: int | None) -> Iterator[None]:
    """Within the block, models given no ``n_jobs`` use ``n`` threads (None: every core)."""
    token = _DEFAULT.set(n)
    try:
        yield
    finally:
        _DEFAULT.reset(token)


def n_threads(n_jobs: int | None = None) -> int:
    """``n_jobs`` when given (>= 1), else :func:`thread_default`'s, else the usable cores."""
    if n_jobs is not None and int(n_jobs) >= 1:
        return int(n_jobs)
    if _DEFAULT.get() is not None:
        return int(_DEFAULT.get())  # type: ignore[arg-type]
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def thread_map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int | None = None) -> Iterator[Any]:  # fmt: skip
    """``map(fn, items)`` on :func:`n_threads` threads (``workers``), results in order.

    For independent, seeded, numpy-bound work: within the block every BLAS and OpenMP pool is
    held to one thread (``threadpoolctl``), so the threads share the cores instead of each
    asking for all of them. With one worker it is the plain loop.

    Examples
    --------
    >>> list(thread_map(lambda x: x * x, range(4), workers=2))
    [0, 1, 4, 9]
    """
    items = list(items)
    workers = min(n_threads(workers), len(items))
    if workers <= 1:
        yield from map(fn, items)
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), ThreadPoolExecutor(workers) as pool:
        yield from pool.map(fn, items)


@contextmanager
def device_default(device: str | None) -> Iterator[None]:
    """Within the block, xgboost models given no ``device`` use ``device`` (None: the CPU)."""
    if device is not None and device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    token = _DEVICE.set(device)
    try:
        yield
    finally:
        _DEVICE.reset(token)


def xgb_device(device: str | None = None) -> str | None:
    """The xgboost ``device`` parameter for a model: ``device`` when given, else
    :func:`device_default`'s; None for the CPU (so CPU models keep xgboost's defaults exactly).
    """
    chosen = device if device is not None else _DEVICE.get()
    if chosen is None or chosen == "cpu":
        return None
    if chosen not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {chosen!r}")
    return chosen


@functools.cache
def gpu_available() -> bool:
    """Whether xgboost can train on a CUDA GPU here (a two-row, one-tree probe; cached)."""
    import xgboost as xgb

    if not xgb.build_info().get("USE_CUDA", False):
        return False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            d = xgb.DMatrix(np.array([[0.0], [1.0]]), label=np.array([0.0, 1.0]))
            xgb.train({"device": "cuda", "tree_method": "hist"}, d, 1)
        except xgb.core.XGBoostError:
            return False
    # xgboost warns ("No visible GPU ... setting device to CPU") and falls back to the CPU
    return not any("GPU" in str(w.message) and "CPU" in str(w.message) for w in caught)


def require_device(device: str, setting: str = "compute.device") -> None:
    """Raise :class:`DeviceError` when ``device`` is ``"cuda"`` and xgboost finds no GPU.

    xgboost itself only warns and trains on the CPU; a run configured for the GPU should say
    so instead of silently taking many times longer. ``setting`` names the config key in the
    message.
    """
    if device not in DEVICES:
        raise ValueError(f"{setting} must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not gpu_available():
        import xgboost as xgb

        raise DeviceError(
            f"{setting} is 'cuda' but xgboost "
            f"{xgb.__version__} finds no usable CUDA GPU on this machine "
            f"(built with CUDA: {bool(xgb.build_info().get('USE_CUDA', False))}); "
            f"set {setting}: cpu (e.g. --set {setting}=cpu)"
        )


def give_back_memory() -> None:
    """Collect Python's garbage and give back to the system the memory Arrow's allocator and
    the C library's ``malloc`` kept (``malloc_trim``, where the C library is glibc's).

    Examples
    --------
    >>> give_back_memory()
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere: macOS, musl, Windows)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def sample_rows(
    n: int, max_rows: int | None, seed: int, stratify: Any | None = None
) -> np.ndarray | None:
    """Sorted positions of a seeded sample of at most ``max_rows`` of ``n`` rows.

    Parameters
    ----------
    n : int
        Number of rows.
    max_rows : int or None
        The cap; None (or a cap >= ``n``) keeps every row.
    seed : int
        Seeds the draw: the same ``(n, max_rows, seed, stratify)`` always gives the same rows.
    stratify : array-like, optional
        Class of each row: every class keeps its share (largest-remainder rounding, at least one
        row of each class present).

    Returns
    -------
    ndarray of int or None
        None when every row is kept (so callers can skip copying).
    """
    if max_rows is None or n <= max_rows:
        return None
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    rng = np.random.default_rng([int(seed), 7919])
    if stratify is None:
        return np.sort(rng.choice(n, size=int(max_rows), replace=False))
    labels = np.asarray(stratify)
    if len(labels) != n:
        raise ValueError(f"stratify has {len(labels)} values for {n} rows")
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    quota = counts * (max_rows / n)
    take = np.maximum(np.floor(quota).astype(int), 1)
    short = int(max_rows - take.sum())
    if short > 0:  # largest remainders first
        order = np.argsort(-(quota - np.floor(quota)), kind="stable")
        for i in order[:short]:
            take[i] += 1
    take = np.minimum(take, counts)
    picks = [
        rng.choice(np.flatnonzero(inverse == c), size=int(take[c]), replace=False)
        for c in range(len(classes))
    ]
    return np.sort(np.concatenate(picks))


def sample_frame(
    frame: pd.DataFrame, max_rows: int | None, seed: int, stratify: str | None = None
) -> pd.DataFrame:
    """``frame`` cut to :func:`sample_rows` (renumbered), or ``frame`` itself when no cut is due.

    ``stratify`` names the column whose classes keep their shares.
    """
    labels = None if stratify is None else frame[stratify].to_numpy()
    keep = sample_rows(len(frame), max_rows, seed, stratify=labels)
    return frame if keep is None else frame.iloc[keep].reset_index(drop=True)


def take_frame(table: pa.Table, rows: np.ndarray | None = None) -> pd.DataFrame:
    """``table.to_pandas()``'s rows ``rows``, converting only those rows.

    ``table.take(rows).to_pandas()`` alone can give other dtypes than the whole conversion: an
    integer column whose nulls all fall outside ``rows`` comes back as ``int64``, not
    ``float64``, a boolean one as ``bool``, not ``object``. Each column of ``table`` that has
    nulls gets the dtype pandas gives it in the whole table, so a sample is typed like the
    table it was drawn from.

    Examples
    --------
    >>> t = pa.table({"n": pa.array([1, None, 3])})
    >>> take_frame(t, np.array([0, 2]))["n"].dtype
    dtype('float64')
    """
    out = (table if rows is None else table.take(pa.array(rows, pa.int64()))).to_pandas()
    for name in table.column_names:
        col = table.column(name)
        if not col.null_count or out[name].hasnans:
            continue
        if pa.types.is_integer(col.type):
            out[name] = out[name].astype("float64")
        elif pa.types.is_boolean(col.type):
            out[name] = out[name].astype(object)
    return out


def sample_table(
    table: pa.Table,
    max_rows: int | None,
    seed: int,
    stratify: str | None = None,
    *,
    rows: np.ndarray | None = None,
    labels: pa.Table | None = None,
) -> pd.DataFrame:
    """:func:`sample_frame` of ``table``'s ``rows`` as pandas (with ``labels``' columns beside
    them), converting only the rows it keeps.

    Parameters
    ----------
    table : pyarrow.Table
    max_rows, seed
        As :func:`sample_rows`.
    stratify : str, optional
        A column of ``labels`` or ``table`` whose classes keep their shares.
    rows : ndarray of int, optional
        The rows of ``table`` to sample from, in this order (default: all).
    labels : pyarrow.Table, optional
        Columns aligned with ``rows``, appended (e.g. from
        :func:`segml.features.snapshots.join_labels`).

    Returns
    -------
    DataFrame
        What ``sample_frame(pandas rows + labels, max_rows, seed, stratify)`` returns: the same
        rows, order and dtypes. A 1M-customer snapshot is ~1 GB in pandas; its 50,000-row
        sample a twentieth of that.
    """
    base = np.arange(table.num_rows) if rows is None else np.asarray(rows, dtype=np.int64)
    strata = None
    if stratify is not None:
        own = labels is not None and stratify in labels.column_names
        strata = labels.column(stratify).to_numpy() if own else table.column(stratify).to_numpy()[base]  # type: ignore[union-attr]  # fmt: skip
    keep = sample_rows(len(base), max_rows, seed, stratify=strata)
    pick = base if keep is None else base[keep]
    frame = take_frame(table, None if keep is None and rows is None else pick)
    if labels is None:
        return frame
    return pd.concat([frame, take_frame(labels, keep)], axis=1)


def leaf_weight(y: np.ndarray, share: float) -> tuple[float, float]:
    """xgboost's ``min_child_weight`` for a smallest leaf of ``share`` × the rarer class's rows.

    ``min_child_weight`` is a sum of hessians, not a count of rows: for ``binary:logistic``
    trees starting from the base rate ``p`` each row weighs ``p (1 - p)``, so a fixed weight
    asks for ``weight / (p (1 - p))`` rows — more rows than a rare class has, and the trees
    never split. This converts a leaf size in rows into the weight xgboost expects.

    Parameters
    ----------
    y : array of 0/1
        The training labels.
    share : float
        Smallest leaf as a share of the rarer class's rows, in [0, 1].

    Returns
    -------
    (float, float)
        The ``min_child_weight`` to pass and the leaf size in rows.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"the smallest leaf's share must be in [0, 1], got {share}")
    y = np.asarray(y, dtype=float)
    p = float(np.mean(y)) if len(y) else 0.0
    rows = share * float(min(y.sum(), len(y) - y.sum()))
    return rows * p * (1.0 - p), rows
