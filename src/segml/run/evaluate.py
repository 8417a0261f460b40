"""The churn step on a synthetic bank, compared with the generator's ground truth (evaluation
only: :mod:`segml.run.pipeline` never opens the ground truth)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from segml.churn.evaluate import bayes_reference, feature_ceiling
from segml.data import load_bank
from segml.features import build_features
from segml.features.labels import build_labels
from segml.run.stages.churn import churn_stage

__all__ = ["evaluate_synthetic"]


def evaluate_synthetic(
    folder: str | os.PathLike[str], seed: int = 42, ceiling: bool = True, search: int = 4
) -> dict[str, Any]:
    """Run the churn stage on a synthetic bank (closure, 12 months) and compare with the truth.

    Parameters
    ----------
    folder : path
        A bank written by :func:`segml.synth.generate` (with ``ground_truth.parquet`` and
        ``synth_manifest.json``).
    seed : int
        Stage seed.
    ceiling : bool
        Also compute :func:`feature_ceiling`.
    search : int
        Search candidates of the stage.

    Returns
    -------
    dict
        ``as_of``, ``stage_seconds``, ``metrics`` (the stage's), ``split``, ``bayes``
        (:class:`BayesReference` as a dict) and, with ``ceiling``, ``feature_ceiling``.
    """

    root = Path(folder)
    manifest = json.loads((root / "synth_manifest.json").read_text(encoding="utf-8"))
    as_of = dt.date.fromisoformat(manifest["calendar"]["as_of"])
    bank = load_bank(root)
    features = build_features(bank, as_of).to_pandas()
    labels = build_labels(bank, as_of, 12, "closure")
    start = time.perf_counter()
    res = churn_stage(bank, features, labels, as_of, 12, "closure", 90, seed=seed, search=search)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "as_of": str(as_of),
        "stage_seconds": seconds,
        "metrics": res.metrics,
        "split": res.documents["churn_metrics.json"]["split"],
        "bayes": bayes_reference(
            root / "ground_truth.parquet", res.tables["churn_scores"]
        ).to_dict(),
    }
    if ceiling:
        active = features[features["is_active"] == 1]
        out["feature_ceiling"] = feature_ceiling(active, root / "ground_truth.parquet", seed=seed)
    return out
