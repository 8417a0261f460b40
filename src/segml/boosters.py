"""xgboost boosters shared by threads, and the float matrices they predict from.

**Thread safety.** ``Booster.predict`` may run in several threads at once; ``Booster.set_param``
may not: it marks the booster for reconfiguration, and a predict running in another thread at
that moment fails in native code (``Check failed: !this->need_configuration_``; under 8
concurrent clients of ``mlflow models serve`` about 4% of the requests did). So a booster's
thread count is set once, when a model is fitted or loaded (:class:`SharedBooster`), and never
while it predicts. :class:`SharedBooster` configures its own copies, never the model's booster,
so making one does not disturb a predict running on the model's booster.

**Few rows on one thread.** On a handful of rows OpenMP's start-up, and on a busy machine its
threads waiting for a core, cost far more than the trees (one row's DMatrix and TreeSHAP: 0.9
ms on one thread, 30 ms on two on a loaded 2-core machine). :meth:`SharedBooster.for_rows`
gives a one-thread copy below :data:`SINGLE_THREAD_ROWS` rows; concurrent requests then run in
parallel instead of fighting over the cores. Thread counts never change a prediction.

**Training.** :func:`tree_params` writes the native parameters every segml booster shares
(histogram trees, seed, threads, device, monotone constraints), :func:`estimator_params` the
same for xgboost's scikit-learn estimators, :func:`frame_dmatrix` the DMatrix of a frame (and
labels), :func:`train` one training run with optional early stopping on validation rows, and
:func:`booster_to_json` / :func:`booster_from_json` a booster as plain JSON (no pickles).
:func:`treeshap_cost` counts what explaining a booster costs.

**Float matrices.** :func:`category_codes` and :func:`frame_array` turn a table into the float
array xgboost reads (a categorical as its category's position, missing or unknown as NaN: what
xgboost reads from a pandas categorical), and :func:`dmatrix` builds the DMatrix from it with
the feature names and types, without pandas' per-column conversion; the predictions are the
same to the bit (tested).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from segml.compute import n_threads, xgb_device

__all__ = [
    "SINGLE_THREAD_ROWS",
    "SharedBooster",
    "booster_from_json",
    "booster_to_json",
    "category_codes",
    "coded_array",
    "configure",
    "dmatrix",
    "estimator_params",
    "frame_array",
    "frame_dmatrix",
    "is_number_kind",
    "numbers",
    "positions",
    "texts",
    "threads_for",
    "train",
    "tree_params",
    "treeshap_cost",
]

#: Inputs of fewer rows are predicted, and their DMatrix built, on one thread.
SINGLE_THREAD_ROWS = 1_000


def configure(booster: xgb.Booster, n_jobs: int | None) -> xgb.Booster:
    """Set ``booster`` to predict on ``n_jobs`` threads (None: :func:`segml.compute.n_threads`).

    Only for a booster no other thread is using: call it where the booster is made (fit, load),
    never in a predict path. It configures the booster at once, not lazily at its first predict.
    """
    booster.set_param({"nthread": n_threads(n_jobs)})
    booster.save_config()  # runs xgboost's (otherwise lazy) configuration now
    return booster


class SharedBooster:
    """A booster for predicting from many threads: configured once, for many rows and for few.

    Parameters
    ----------
    booster : xgboost.Booster
        The model's booster; it is copied, never changed.
    n_jobs : int, optional
        Threads for large inputs (None: :func:`segml.compute.n_threads` now).

    Attributes
    ----------
    source : xgboost.Booster
        The booster it copies (a model re-fitted with a new booster needs a new one).
    """

    def __init__(self, booster: xgb.Booster, n_jobs: int | None = None, names: list[str] | None = None) -> None:  # fmt: skip
        if names is not None and booster.feature_names is not None and list(booster.feature_names) != list(names):  # fmt: skip
            raise ValueError("the model's feature names differ from its booster's")
        self.source = booster
        self.names = None if names is None else list(names)
        self._many = configure(booster.copy(), n_jobs)
        self._one = configure(booster.copy(), 1)

    def for_rows(self, rows: int) -> xgb.Booster:
        """The copy to predict ``rows`` rows with (one thread below :data:`SINGLE_THREAD_ROWS`)."""
        return self._one if rows < SINGLE_THREAD_ROWS else self._many

    def predict(self, d: xgb.DMatrix, **kwargs: Any) -> np.ndarray:
        """``Booster.predict`` on the copy for ``d``'s rows.

        ``d`` must be a :func:`dmatrix` of :attr:`names` (checked against the booster's own
        names once, when this was made), so xgboost's per-call check of the names is skipped.
        """
        validate = self.names is None
        return self.for_rows(d.num_row()).predict(d, validate_features=validate, **kwargs)

    @classmethod
    def of(cls, owner: Any, booster: xgb.Booster, n_jobs: int | None, key: str = "", names: list[str] | None = None) -> SharedBooster:  # fmt: skip
        """The :class:`SharedBooster` of ``booster`` cached on ``owner`` (made when missing).

        Models call it once where they are fitted or loaded, so serving only reads the cache.
        ``names``: the feature names the owner builds its DMatrix with (see :meth:`predict`).
        """
        cache = owner.__dict__.setdefault("_shared_boosters", {})
        shared = cache.get(key)
        if shared is None or shared.source is not booster:
            shared = cache[key] = cls(booster, n_jobs, names)
        return shared


def threads_for(rows: int) -> int:
    """Threads to build a DMatrix of ``rows`` rows with (1 below :data:`SINGLE_THREAD_ROWS`)."""
    return 1 if rows < SINGLE_THREAD_ROWS else n_threads()


def texts(values: pd.Series) -> list[str | None]:
    """Each value as text (``str()``; a missing one: None), in one pass without pandas."""
    raw = values.to_numpy(dtype=object, na_value=None)
    return [v if v is None or isinstance(v, str) else str(v) for v in raw]


def category_codes(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Each value's position in ``categories`` (compared as text), NaN when missing or unknown."""
    if len(values) > SINGLE_THREAD_ROWS and is_all_text(values):  # vectorised, same codes
        codes = pd.Index(list(categories), dtype=object).get_indexer(values.to_numpy(dtype=object))  # fmt: skip
        return np.where(codes < 0, np.nan, codes.astype(float))
    lookup = {c: float(i) for i, c in enumerate(categories)}
    return np.array([lookup.get(v, np.nan) for v in texts(values)], dtype=float)


def is_all_text(values: pd.Series) -> bool:
    """Whether every present value of ``values`` is a ``str`` (so ``str()`` changes none)."""
    if isinstance(values.dtype, pd.StringDtype):
        return True
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "string"


def is_number_kind(dtype: Any) -> bool:
    """Whether a column of ``dtype`` holds numbers (or booleans): numpy's and pandas' nullable
    numeric types; not text, categoricals or dates (a cheaper ``is_numeric_dtype``)."""
    return getattr(dtype, "kind", "O") in "biuf"  # categoricals, text, dates: "O", "M", "m"


#: Column positions of recently seen column indexes (``id`` → the index, its positions); the
#: strong reference keeps an ``id`` from being reused while its entry lives.
_POSITIONS: dict[int, tuple[pd.Index, dict[Any, int]]] = {}


def positions(index: pd.Index, columns: list[str]) -> np.ndarray:
    """Positions of ``columns`` in ``index`` (remembered per index object: the frames of one
    request share theirs). Raises ``KeyError`` naming the columns ``index`` lacks."""
    hit = _POSITIONS.get(id(index))
    if hit is None or hit[0] is not index:
        if len(_POSITIONS) >= 256:
            _POSITIONS.clear()
        hit = _POSITIONS[id(index)] = (index, {c: i for i, c in enumerate(index)})
    where = hit[1]
    try:
        return np.array([where[c] for c in columns], dtype=np.intp)
    except KeyError:
        raise KeyError(f"the table lacks column(s) {[c for c in columns if c not in where]}") from None  # fmt: skip


def numbers(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``columns`` of ``frame`` as a float array (text that is no number: NaN)."""
    pos = positions(frame.columns, columns)
    kinds = frame.dtypes.to_numpy()
    if len(pos):
        lo, hi = int(pos.min()), int(pos.max()) + 1
        narrow = hi - lo <= 2 * len(pos) or len(frame) < SINGLE_THREAD_ROWS
        if narrow and all(is_number_kind(k) for k in kinds[lo:hi]):  # a slice, numpy picks
            block = frame.iloc[:, lo:hi].to_numpy(dtype=float, na_value=np.nan)
            return block[:, pos - lo]
        if all(is_number_kind(k) for k in kinds[pos]):
            return frame.iloc[:, pos].to_numpy(dtype=float, na_value=np.nan)
    cols = [pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan) for c in columns]  # fmt: skip
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0))


def coded_array(
    frame: pd.DataFrame, names: list[str], categories: Mapping[str, list[str]], lacks: str
) -> np.ndarray:
    """Columns ``names`` of ``frame`` as the float array a booster reads: numbers as numbers,
    the columns of ``categories`` as their category's position (unseen or missing: NaN).

    Raises ``ValueError`` (``lacks`` followed by the list) when ``frame`` lacks any of them.
    """
    have = set(frame.columns)
    missing = [c for c in names if c not in have]
    if missing:
        raise ValueError(f"{lacks} {missing}")
    out = np.empty((len(frame), len(names)))
    num = [j for j, c in enumerate(names) if c not in categories]
    out[:, num] = numbers(frame, [names[j] for j in num])
    for j, c in enumerate(names):
        if c in categories:
            out[:, j] = category_codes(frame[c], categories[c])
    return out


def frame_array(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """A float array of ``frame`` (categoricals as their codes, NaN when missing) and the
    xgboost feature types (``"c"`` categorical, ``"q"`` numeric)."""
    types = ["c" if isinstance(t, pd.CategoricalDtype) else "q" for t in frame.dtypes]
    out = np.empty((len(frame), frame.shape[1]))
    num = [j for j, t in enumerate(types) if t == "q"]
    if num:
        out[:, num] = numbers(frame, [frame.columns[j] for j in num])
    for j, t in enumerate(types):
        if t == "c":
            codes = frame.iloc[:, j].cat.codes.to_numpy(dtype=float)
            out[:, j] = np.where(codes < 0, np.nan, codes)
    return out, types


def dmatrix(values: np.ndarray, names: list[str], types: list[str]) -> xgb.DMatrix:
    """A DMatrix of ``values`` (NaN missing), built on :func:`threads_for` its rows."""
    return xgb.DMatrix(
        values, feature_names=list(names), feature_types=list(types), enable_categorical=True,
        missing=np.nan, nthread=threads_for(len(values)),
    )  # fmt: skip


# ----------------------------------------------------------------------------- training
def tree_params(
    objective: str,
    *,
    seed: int,
    n_jobs: int | None = None,
    device: str | None = None,
    monotone: Sequence[int] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Native xgboost parameters of a segml booster: histogram trees, seeded.

    Parameters
    ----------
    objective : str
        xgboost objective (``"binary:logistic"``, ``"reg:tweedie"`` ...).
    seed : int
        The booster's seed.
    n_jobs : int, optional
        Threads (None: :func:`segml.compute.n_threads`).
    device : str, optional
        ``"cuda"`` or ``"cpu"`` (None: :func:`segml.compute.xgb_device`'s default; the CPU sets
        no ``device`` at all).
    monotone : sequence of int, optional
        One sign per feature (-1, 0, 1), written as ``monotone_constraints``; None: none.
    **params
        The model's own parameters (``eta``, ``max_depth`` ...); a None value is left out.

    Returns
    -------
    dict
        Parameters for :func:`train`.
    """
    out = {"objective": objective, **params, "tree_method": "hist", "seed": seed}
    out["nthread"] = n_threads(n_jobs)
    if dev := xgb_device(device):
        out["device"] = dev
    if monotone is not None:
        out["monotone_constraints"] = "(" + ",".join(str(int(s)) for s in monotone) + ")"
    return {k: v for k, v in out.items() if v is not None}


def estimator_params(params: Mapping[str, Any], n_jobs: int | None = None) -> dict[str, Any]:
    """``params`` for an ``xgboost.XGBClassifier`` / ``XGBRegressor``, threads and device set.

    ``n_jobs`` in ``params`` wins over the argument; either goes through
    :func:`segml.compute.n_threads`. ``device`` defaults to :func:`segml.compute.xgb_device`.
    """
    out = dict(params)
    out["n_jobs"] = n_threads(out.get("n_jobs", n_jobs))
    out.setdefault("device", xgb_device())
    return out


def frame_dmatrix(frame: pd.DataFrame | np.ndarray, label: Any = None) -> xgb.DMatrix:
    """The DMatrix of ``frame`` (pandas categoricals as categories, NaN missing), with labels."""
    return xgb.DMatrix(frame, label=label, enable_categorical=True, missing=np.nan)


def train(
    params: Mapping[str, Any],
    dtrain: xgb.DMatrix,
    rounds: int,
    *,
    valid: xgb.DMatrix | None = None,
    early_stopping_rounds: int | None = None,
    evals_result: dict[str, Any] | None = None,
) -> xgb.Booster:
    """``rounds`` boosting rounds on ``dtrain``, silently; early-stopped on ``valid`` if given.

    Parameters
    ----------
    params : mapping
        Native parameters (:func:`tree_params`).
    dtrain : DMatrix
        Training rows and labels.
    rounds : int
        Boosting rounds (the most, with early stopping).
    valid : DMatrix, optional
        Validation rows (named ``"validation"`` in ``evals_result``).
    early_stopping_rounds : int, optional
        Stop after this many rounds without improvement on ``valid``.
    evals_result : dict, optional
        Filled with the validation metric per round.

    Returns
    -------
    xgboost.Booster
        With ``best_iteration`` set when early-stopped.
    """
    evals = None if valid is None else [(valid, "validation")]
    names, types = dtrain.feature_names, dtrain.feature_types
    with _unnamed([dtrain] if valid is None else [dtrain, valid]):
        booster = xgb.train(
            dict(params), dtrain, num_boost_round=rounds, evals=evals,
            early_stopping_rounds=early_stopping_rounds, evals_result=evals_result,
            verbose_eval=False,
        )  # fmt: skip
    booster.feature_names, booster.feature_types = names, types
    return booster


@contextlib.contextmanager
def _unnamed(mats: Sequence[xgb.DMatrix]) -> Iterator[None]:
    """The matrices without feature names (and, when none is categorical, types) meanwhile.

    xgboost's Python layer reads and compares every name and type of the matrices at each
    boosting round (``Booster._assign_dmatrix_features``): on ~100 features that cost 0.7 ms
    a round, a quarter of the training time of a 3,000-customer bank. Names and types do not
    enter the trees; :func:`train` puts them back on the booster. Categorical types stay (they
    decide how a column is split).
    """
    saved = [(m, m.feature_names, m.feature_types) for m in mats]
    try:
        for m, names, types in saved:
            if names is not None:
                m.feature_names = None
            if types is not None and "c" not in types:
                m.feature_types = None
        yield
    finally:
        for m, names, types in saved:
            m.feature_names, m.feature_types = names, types


def booster_to_json(booster: xgb.Booster) -> Any:
    """The booster as xgboost's JSON model, parsed (plain dicts and lists)."""
    return json.loads(bytes(booster.save_raw("json")))


def booster_from_json(raw: Any) -> xgb.Booster:
    """The booster written by :func:`booster_to_json`."""
    booster = xgb.Booster()
    booster.load_model(bytearray(json.dumps(raw).encode()))
    return booster


def treeshap_cost(booster: xgb.Booster, iteration_range: tuple[int, int] | None = None) -> dict[str, float]:  # fmt: skip
    """Size of a tree ensemble and its TreeSHAP cost proxy Σ leaves × depth² over the trees.

    TreeSHAP walks every leaf's path once per row and does O(depth) work per step, so its time
    per row grows with trees × leaves × depth²; the proxy is deterministic, unlike a timing.
    """
    df = booster.trees_to_dataframe()
    if iteration_range is not None:
        df = df[(df["Tree"] >= iteration_range[0]) & (df["Tree"] < iteration_range[1])]
    if df.empty:
        return {"trees": 0.0, "leaves": 0.0, "max_depth": 0.0, "cost": 0.0}
    leaves = df[df["Feature"] == "Leaf"].groupby("Tree").size()
    depth = _tree_depths(df)
    cost = float((leaves * depth.reindex(leaves.index).clip(lower=1) ** 2).sum())
    return {
        "trees": float(df["Tree"].nunique()),
        "leaves": float(leaves.sum()),
        "max_depth": float(depth.max()),
        "cost": cost,
    }


def _tree_depths(df: pd.DataFrame) -> pd.Series:
    """Depth of each tree (root-only tree: 0) from ``trees_to_dataframe``."""
    out = {}
    for tree, t in df.groupby("Tree"):
        children = dict(zip(t["ID"], zip(t["Yes"], t["No"], strict=True), strict=True))
        depth, frontier = 0, [f"{tree}-0"]
        while True:
            nxt = [c for n in frontier for c in children.get(n, ()) if isinstance(c, str)]
            if not nxt:
                break
            depth, frontier = depth + 1, nxt
        out[tree] = depth
    return pd.Series(out, dtype=float)
