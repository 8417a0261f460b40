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
from segml.explain.reference import ReasonReference
from segml.explain.thresholds import tier_thresholds
from segml.features.build import active
from segml.features.catalogue import FEATURES_VERSION
from segml.grades.scorecard import Scorecard
from segml.progress import step
from segml.run.stages.base import StageResult
from segml.serving.bundle import TieringBundle
from segml.serving.pyfunc import log_tiering_model
from segml.serving.schema import build_schema
from segml.tiers.playbooks import DEFAULT_PLAYBOOKS, playbooks_from_json
from segml.tiers.policy import TierPolicy
from segml.tiers.rules import TierRule

__all__ = ["export_stage", "make_bundle"]


def make_bundle(
    value_model: Any,
    tiers: pd.DataFrame,
    policy: TierPolicy,
    rules: tuple[TierRule, ...],
    scorecard: Scorecard | None,
    *,
    churn_model: Any = None,
    clv_model: Any = None,
    clv_horizon_days: float | None = None,
    clv_annual_rate: float | None = None,
    surrogate: Any = None,
    segment_names: dict[str, str] | None = None,
    top_k: int = 4,
    run_id: str = "",
    features: pd.DataFrame | None = None,
    reason_reference: ReasonReference | None = None,
) -> TieringBundle:
    """A bundle of a run's models: the value score model and the tiers' thresholds (required),
    the churn and CLV models and the segment surrogate when the run fitted them.

    ``tiers``: the tiers step's table (its ``value`` column sets the thresholds, its
    ``attrs["tier_playbooks"]`` the playbooks, else the defaults);
    ``clv_horizon_days``/``clv_annual_rate``: those the CLV model was scored with (the
    bundle's defaults without a CLV model); ``features``: the run's validated feature table,
    whose categories are accepted as input; ``reason_reference``: the typical customers the
    explain step measured the reason codes against (:mod:`segml.explain.reference`).
    """
    saved = tiers.attrs.get("tier_playbooks")  # as the run calibrated them (retention cuts)
    books = playbooks_from_json(saved) if saved else DEFAULT_PLAYBOOKS
    thr = tier_thresholds(tiers["value"].to_numpy(dtype=float), policy)["min_score"].to_numpy()
    clv = {} if clv_model is None else {"clv_model": clv_model,
                                        "clv_horizon_days": float(clv_horizon_days or 365.0),
                                        "clv_annual_rate": float(clv_annual_rate or 0.0)}  # fmt: skip
    bundle = TieringBundle(
        value_model=value_model,
        policy=policy,
        thresholds=[float(t) for t in thr[: len(policy.tiers)]],
        rules=tuple(rules),
        playbooks={t: books[t] for t in policy.labels if t in books},
        churn_model=churn_model,
        surrogate=surrogate,
        scorecard=scorecard,
        segment_names=dict(segment_names or {}),
        features_version=FEATURES_VERSION,
        top_k=top_k,
        run_id=run_id,
        reason_reference=reason_reference,
        **clv,
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
