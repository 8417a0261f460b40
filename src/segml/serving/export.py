"""Stage ``export`` of ``segml run``: bundle the run's models, log and register the pyfunc model.

The bundle (:class:`~segml.serving.bundle.TieringBundle`) takes the value score model, the
tier thresholds of the run, the override rules and playbooks, the churn model, the CLV model,
the segment surrogate and the scorecard. The stage re-scores the run's own tiered customers (a
seeded sample of ``compute.export_check_rows``) with it (``scores.parquet``: what loading the
registered model in another process must reproduce) and registers it as ``segml-tiering``.
The alias ``challenger`` is set by the run once it has ended FINISHED, never before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.compute import sample_rows
from segml.explain.thresholds import tier_thresholds
from segml.features.catalogue import FEATURES_VERSION
from segml.grades.scorecard import Scorecard
from segml.progress import step
from segml.serving.bundle import TieringBundle
from segml.serving.pyfunc import log_tiering_model
from segml.serving.schema import build_schema
from segml.stages import StageResult, active
from segml.tiers.playbooks import DEFAULT_PLAYBOOKS
from segml.tiers.policy import TierPolicy
from segml.tiers.rules import TierRule

__all__ = ["export_stage", "make_bundle"]


def make_bundle(
    results: dict[str, StageResult],
    policy: TierPolicy,
    rules: tuple[TierRule, ...],
    scorecard: Scorecard | None,
    *,
    top_k: int = 4,
    run_id: str = "",
    features: pd.DataFrame | None = None,
) -> TieringBundle:
    """A bundle of the models the stages in ``results`` fitted (value model required).

    ``features``: the run's validated feature table; its categories are accepted as input.

    Raises
    ------
    ValueError
        When the run has no value score model or no tiers.
    """
    if "value" not in results or "tiers" not in results:
        raise ValueError("the exported model needs the value score model and the tiers")
    tiers = results["tiers"].tables["tiers"]
    thr = tier_thresholds(tiers["value"].to_numpy(dtype=float), policy)["min_score"].to_numpy()
    models: dict[str, Any] = {k: v for r in results.values() for k, v in r.models.items()}
    clv_doc = results["clv"].documents.get("clv_config.json", {}) if "clv" in results else {}
    seg_doc = results["segments"].documents.get("segments.json", {}) if "segments" in results else {}  # fmt: skip
    bundle = TieringBundle(
        value_model=models["value"],
        policy=policy,
        thresholds=[float(t) for t in thr[: len(policy.tiers)]],
        rules=tuple(rules),
        playbooks={t: DEFAULT_PLAYBOOKS[t] for t in policy.labels if t in DEFAULT_PLAYBOOKS},
        churn_model=models.get("churn"),
        clv_model=models.get("clv"),
        surrogate=models.get("segment_surrogate"),
        scorecard=scorecard,
        clv_horizon_days=float(clv_doc.get("horizon_days", 365.0)),
        clv_annual_rate=float(clv_doc.get("annual_discount_rate", 0.10)),
        segment_names={str(k): str(v) for k, v in seg_doc.get("names", {}).items()},
        features_version=FEATURES_VERSION,
        top_k=top_k,
        run_id=run_id,
    )
    if features is not None:
        bundle.schema = build_schema(bundle, features)
    return bundle


def export_stage(
    features: pd.DataFrame,
    bundle: TieringBundle,
    *,
    name: str,
    alias: str | None,
    check_rows: int | None = None,
    seed: int = 0,
) -> StageResult:
    """Re-score the run's tiered customers with ``bundle``; log and register it (active run).

    ``check_rows``: re-score a seeded sample of this many customers (None: all). The sample's
    scores are ``scores.parquet``, what the registered model must reproduce in another
    process; ``tier_agreement_with_run`` compares their value tiers with the run's.
    """
    pop = active(features)
    keep = sample_rows(len(pop), check_rows, seed)
    sample = pop if keep is None else pop.iloc[keep]
    with step("score_run_customers", f"{len(sample):,} of {len(pop):,} customers"):
        scores = bundle.predict(sample)
    with step("log_and_register"):
        # the alias waits for the run to end FINISHED (``Tracker.defer_alias``): a version of a
        # run that may still fail never holds one
        info = {**log_tiering_model(bundle, features, name=name, alias=None), "alias": alias}
    res = StageResult()
    res.tables["scores"] = scores
    res.documents["model_info.json"] = {
        **info,
        "thresholds": dict(zip(bundle.policy.tiers, bundle.thresholds, strict=True)),
        "input_columns": bundle.schema.columns if bundle.schema else [],
        "checked_customers": len(sample),
    }
    res.metrics["model_version"] = float(info["version"])
    res.metrics["scored"] = float(len(scores))
    run_tiers = results_tiers(features, bundle)
    by_value = (scores["tier_by_value"].to_numpy() == (run_tiers if keep is None else run_tiers[keep])).mean()  # fmt: skip
    res.metrics["tier_agreement_with_run"] = float(by_value)
    return res


def results_tiers(features: pd.DataFrame, bundle: TieringBundle) -> np.ndarray:
    """The rank policy's value tiers of the tiered customers (what the thresholds reproduce)."""
    pop = active(features)
    return bundle.policy.assign(pop["value_score"].to_numpy(dtype=float))
