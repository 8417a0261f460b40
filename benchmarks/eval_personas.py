"""How well the behavioural segments recover the synthetic bank's latent personas, and how well
anything could.

For each bank size and seed, the synthetic bank is generated (cached under data/raw/synthetic,
as ``segml run`` does), its features are built at the default as-of date, and the active
customers are segmented exactly as the pipeline's segments stage does (k auto, retail and
corporate apart, ``compute.cluster_rows``). :func:`segml.segments.persona_report` then scores,
against the personas, three labellings of the same customers:

* ``behavioural`` — the segments (never see the personas);
* ``demographic`` — the age band × income band × region cells, the traditional baseline;
* ``supervised ceiling`` — a gradient-boosting classifier *trained on the personas* from the
  columns the segmentation used, predicted out of fold: how separable the personas are in
  those columns, the ARI no segmentation of them can be expected to beat.

    python benchmarks/eval_personas.py                                    # 5,000 customers, seeds 7
    python benchmarks/eval_personas.py --customers 5000 20000 --seeds 0 1 2 7

Writes benchmarks/results/eval_personas.{json,md}.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from common import run_grid

from segml.data import load_bank
from segml.features import build_features
from segml.run.config import RunConfig
from segml.run.stages.data import prepare_synthetic
from segml.segments import persona_report, segment_customers


def evaluate(customers: int, seed: int, cache: Path) -> dict:
    """One bank: k, and ARI/NMI of the segments, the demographic cells and the ceiling."""
    cfg = RunConfig.model_validate({"seed": seed, "synthetic": {"customers": customers}})
    folder, _ = prepare_synthetic(cache, cfg.synth_config())
    bank = load_bank(folder, memory_limit=cfg.compute.memory_limit)
    features = build_features(bank, cfg.synthetic.as_of, cfg.features.feature_config())
    t0 = time.perf_counter()
    seg = segment_customers(
        features, cfg.segments.k, population="active", seed=cfg.seed,
        fit_size=cfg.compute.cluster_rows,
    )  # fmt: skip
    t1 = time.perf_counter()
    truth = pd.read_parquet(folder / "ground_truth.parquet")
    comparison, _ = persona_report(seg, features, truth, seed=cfg.seed)
    t2 = time.perf_counter()
    table = comparison.set_index("segmentation")
    chosen = seg.scores[seg.scores["selected"]].set_index("stratum")["k"]
    ari, ceiling = table.loc["behavioural", "ari_truth"], table.loc["supervised ceiling", "ari_truth"]  # fmt: skip
    return {
        "customers": customers,
        "seed": seed,
        "active": len(seg.assignments),
        "k": seg.k,
        "k_by_type": " + ".join(f"{s} {int(k)}" for s, k in chosen.items()),
        "ari": round(float(ari), 3),
        "nmi": round(float(table.loc["behavioural", "nmi_truth"]), 3),
        "ari_demographic": round(float(table.loc["demographic", "ari_truth"]), 3),
        "ari_ceiling": round(float(ceiling), 3),
        "nmi_ceiling": round(float(table.loc["supervised ceiling", "nmi_truth"]), 3),
        "ari_share_of_ceiling": round(float(ari / ceiling), 3),
        "segment_s": round(t1 - t0, 1),
        "ceiling_s": round(t2 - t1, 1),
    }


if __name__ == "__main__":
    run_grid("eval_personas", __doc__, evaluate, customers=5_000, seeds=[7])
