"""The churn method (:func:`segml.churn.fit.fit_churn`) on a synthetic bank, compared with the
generator's ground truth (evaluation only: :mod:`segml.run.pipeline` never opens the ground
truth)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from segml.churn.evaluate import bayes_reference, feature_ceiling
from segml.churn.fit import fit_churn
from segml.churn.outcome import ChurnSettings
from segml.data import load_bank
from segml.features import build_features
from segml.features.labels import build_labels

__all__ = ["evaluate_synthetic"]


def evaluate_synthetic(
    folder: str | os.PathLike[str], seed: int = 42, ceiling: bool = True, search: int = 4
) -> dict[str, Any]:
    """Fit the churn model on a synthetic bank (closure, 12 months) and compare with the truth.

    Parameters
    ----------
    folder : path
        A bank written by :func:`segml.synth.generate` (with ``ground_truth.parquet`` and
        ``synth_manifest.json``).
    seed : int
        Seed of the fit.
    ceiling : bool
        Also compute :func:`feature_ceiling`.
    search : int
        Search candidates of the fit.

    Returns
    -------
    dict
        ``as_of``, ``stage_seconds``, ``metrics`` (the fit's), ``split``, ``bayes``
        (:class:`BayesReference` as a dict) and, with ``ceiling``, ``feature_ceiling``.
    """

    root = Path(folder)
    manifest = json.loads((root / "synth_manifest.json").read_text(encoding="utf-8"))
    as_of = dt.date.fromisoformat(manifest["calendar"]["as_of"])
    bank = load_bank(root)
    features = build_features(bank, as_of).to_pandas()
    labels = build_labels(bank, as_of, 12, "closure")
    settings = ChurnSettings(
        horizon_months=12, definition="closure", inactivity_days=90, seed=seed, search=search
    )
    start = time.perf_counter()
    res = fit_churn(bank, features, labels, as_of, settings)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "as_of": str(as_of),
        "stage_seconds": seconds,
        "metrics": res.metrics.to_dict(),
        "split": res.split,
        "bayes": bayes_reference(root / "ground_truth.parquet", res.scores).to_dict(),
    }
    if ceiling:
        active = features[features["is_active"] == 1]
        out["feature_ceiling"] = feature_ceiling(active, root / "ground_truth.parquet", seed=seed)
    return out
