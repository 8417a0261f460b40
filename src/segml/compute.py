"""How much of the machine a run uses: threads for xgboost, and row caps for model fitting.

Two rules keep a large bank on one machine without changing the method:

* **Threads.** xgboost's ``hist`` trees and TreeSHAP use every core by default
  (:func:`n_threads`). Results do not depend on the thread count: xgboost builds the same trees
  and the same contributions with 1 or many threads (tests/test_compute.py checks it bit for
  bit), so a run stays deterministic on any machine.
* **Row caps.** Fitting a model on a seeded random sample of at most ``max_rows`` rows
  (:func:`sample_rows`) bounds the cost of training and model selection; the fitted model then
  scores every customer. Past a few hundred thousand rows a gradient-boosted model or a mixture
  learns little more from another row, while the cost grows linearly
  (``benchmarks/bench_caps.py`` measures the learning curve). A stratified sample keeps each class's share exactly (to the row), so
  probability calibration is unaffected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["n_threads", "sample_frame", "sample_rows", "thread_default"]

_DEFAULT: ContextVar[int | None] = ContextVar("segml_threads", default=None)


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
