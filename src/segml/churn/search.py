"""A small, seeded hyper-parameter search judged on validation rows.

:func:`candidate_params` draws settings from :data:`SEARCH_SPACE` (the first candidate is
always :class:`~segml.churn.model.ChurnModel`'s defaults); :func:`fit_best` fits one model per
candidate — each early-stopped on the validation rows — and keeps the one with the lowest
validation log loss at its best iteration. The test rows never take part.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.boosters import treeshap_cost
from segml.churn.model import ChurnModel

__all__ = ["SEARCH_SPACE", "candidate_params", "fit_best"]

#: Values each searched parameter may take (learning rate stays at the default 0.05). The
#: smallest leaf is searched as :class:`ChurnModel`'s ``min_child_share`` (a share of the rarer
#: class's training rows), so the candidates mean the same for any table size and class
#: balance; on the synthetic bank they are xgboost ``min_child_weight`` 1.2, 2.5, 5, 10, 20, 50.
SEARCH_SPACE: dict[str, tuple[float, ...]] = {
    "max_depth": (2, 3, 4, 5, 6),
    "min_child_share": (0.01, 0.02, 0.04, 0.08, 0.16, 0.4),
    "subsample": (0.6, 0.7, 0.8, 0.9, 1.0),
    "colsample_bytree": (0.4, 0.6, 0.8, 1.0),
    "reg_lambda": (0.5, 1.0, 2.0, 5.0, 10.0),
    "gamma": (0.0, 0.1, 0.5, 1.0),
}


def candidate_params(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``{}`` (the defaults) followed by ``n`` distinct random settings, seeded."""
    if n < 0:
        raise ValueError(f"the number of search candidates must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = [{}]
    seen: set[tuple] = set()
    tries = 0
    while len(out) < n + 1 and tries < 100 * (n + 1):
        tries += 1
        c = {k: v[int(rng.integers(len(v)))] for k, v in SEARCH_SPACE.items()}
        c = {k: (int(v) if k == "max_depth" else float(v)) for k, v in c.items()}
        key = tuple(sorted(c.items()))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def fit_best(
    X: pd.DataFrame,
    y: Any,
    X_val: pd.DataFrame | None = None,
    y_val: Any = None,
    n_candidates: int = 0,
    seed: int = 0,
    base: dict[str, Any] | None = None,
) -> tuple[ChurnModel, list[dict[str, Any]]]:
    """Fit the default model and ``n_candidates`` random ones; keep the best on validation.

    Parameters
    ----------
    X, y : DataFrame and array
        Training rows.
    X_val, y_val : DataFrame and array, optional
        Validation rows (early stopping, selection and calibration); without them each
        model holds out its own stratified share of ``X`` (the same rows for every candidate,
        since they share ``random_state``).
    n_candidates : int
        Random settings tried besides the defaults (0: just the defaults).
    seed : int
        Seeds the draws and every model's ``random_state``.
    base : dict, optional
        Other :class:`ChurnModel` parameters (e.g. ``calibration``, ``monotone``). A searched
        parameter overrides its value in ``base``; a random candidate's ``min_child_share``
        also overrides a ``min_child_weight`` given there.

    Returns
    -------
    (ChurnModel, list of dict)
        The selected fitted model, and one record per candidate: its parameters,
        ``validation_logloss``, ``best_iteration``, its size (``trees``, ``leaves``) and
        TreeSHAP cost proxy (``treeshap_cost``, :func:`segml.boosters.treeshap_cost`), and
        ``selected``.
    """
    trials: list[dict[str, Any]] = []
    best: ChurnModel | None = None
    for params in candidate_params(n_candidates, seed):
        merged = {**(base or {}), **params, "random_state": seed}
        if "min_child_share" in params:  # the candidate's leaf size, not a fixed hessian sum
            merged["min_child_weight"] = None
        model = ChurnModel(**merged)
        model.fit(X, y, X_val, y_val)
        loss = model.fit_info_["validation_logloss"]
        size = treeshap_cost(model.booster_, (0, model.best_iteration_ + 1))
        trials.append(
            {
                "params": params or "defaults",
                "validation_logloss": loss,
                "best_iteration": model.best_iteration_,
                "trees": size["trees"],
                "leaves": size["leaves"],
                "treeshap_cost": size["cost"],  # explanation cost proxy: Σ leaves × depth²
                "selected": False,
            }
        )
        if best is None or loss < best.fit_info_["validation_logloss"]:
            best = model
            for t in trials:
                t["selected"] = False
            trials[-1]["selected"] = True
    assert best is not None
    return best, trials
