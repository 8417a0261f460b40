"""The churn model against the synthetic bank's truth: Bayes-optimal AUC and the feature ceiling.

For each bank size and seed, the synthetic bank is generated (cached under data/raw/synthetic,
as ``segml run`` does) and :func:`segml.run.evaluate.evaluate_synthetic` runs the churn stage
(closure, 12 months — the definition the generator's truth uses) and compares, on the same
held-out customers:

* the model's ROC AUC;
* the Bayes-optimal AUC: the generator's true churn probability of each customer;
* the feature ceiling (:func:`segml.churn.evaluate.feature_ceiling`): an xgboost regressor of
  the *true* log hazard on the features, out of fold — how well anything built on these
  features could rank churners, however many labels it had.

    python benchmarks/eval_churn_synthetic.py                          # 20,000 customers, seed 42
    python benchmarks/eval_churn_synthetic.py --customers 20000 --seeds 42 7 3

Writes benchmarks/results/eval_churn_synthetic.{json,md}.
"""

from __future__ import annotations

from pathlib import Path

from common import run_grid

from segml.run.config import RunConfig
from segml.run.evaluate import evaluate_synthetic
from segml.run.stages.data import prepare_synthetic


def evaluate(customers: int, seed: int, cache: Path) -> dict:
    """One bank: the model's test AUC next to the Bayes AUC and the feature ceiling."""
    cfg = RunConfig.model_validate({"seed": seed, "synthetic": {"customers": customers}})
    folder, _ = prepare_synthetic(cache, cfg.synth_config())
    out = evaluate_synthetic(folder, seed=seed, search=cfg.churn.search)
    bayes, ceiling = out["bayes"], out["feature_ceiling"]
    return {
        "customers": customers,
        "seed": seed,
        "test_customers": bayes["n"],
        "churners": bayes["positives"],
        "auc_model": round(bayes["auc_model"], 3),
        "auc_bayes": round(bayes["auc_bayes"], 3),
        "gap_to_bayes": round(bayes["auc_gap"], 3),
        "auc_feature_ceiling": round(ceiling["auc_ceiling"], 3),
        "r2_log_hazard": round(ceiling["r2_log_hazard"], 3),
        "gap_to_ceiling": round(ceiling["auc_ceiling"] - bayes["auc_model"], 3),
        "auc_bg_nbd": round(bayes["auc_baseline"], 3) if bayes["auc_baseline"] else None,
        "stage_s": round(out["stage_seconds"], 1),
    }


if __name__ == "__main__":
    run_grid("eval_churn_synthetic", __doc__, evaluate, customers=20_000, seeds=[42])
