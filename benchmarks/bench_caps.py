"""Learning curves behind ``compute.max_train_rows``: held-out quality and fit time by training rows.

On one synthetic bank, the value score model and the churn model are trained by their
libraries' fits (:func:`segml.value.fit_value`, :func:`segml.churn.fit_churn`: the same code
``segml run`` uses) on seeded samples of growing size — the cap — and tested on
the customers after the as-of date. The baseline of each row is the same model trained on every
available row (no cap), in the same run: if the curve is flat well before the largest cap,
capping training rows bounds the cost of a large bank without costing quality.

    python benchmarks/bench_caps.py                                  # 20,000-customer bank
    python benchmarks/bench_caps.py --customers 100000 --caps 10000 25000 50000
    python benchmarks/bench_caps.py --customers 1000000 --caps 25000 50000 --baseline-cap 150000
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from common import write_results

from segml.churn.fit import fit_churn
from segml.data import load_bank
from segml.features import build_features
from segml.features.labels import build_labels
from segml.run.config import RunConfig
from segml.run.stages.data import prepare_synthetic
from segml.run.stages.tiers import tier_policy
from segml.value.fit import fit_value

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / "data" / "raw" / "synthetic"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--caps", type=int, nargs="+", default=[2_000, 5_000, 10_000])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument(
        "--baseline-cap",
        type=int,
        default=None,
        help="train the baseline on this many rows instead of every row (a 1M bank's 'all' "
        "is ~700,000 rows: hours on 2 cores)",
    )
    args = ap.parse_args()
    cfg = RunConfig.model_validate({"seed": args.seed, "synthetic": {"customers": args.customers}})
    folder, _ = prepare_synthetic(args.cache, cfg.synth_config())
    bank = load_bank(folder, memory_limit=cfg.compute.memory_limit)
    as_of = cfg.synthetic.as_of
    fcfg = cfg.features.feature_config()
    frame = build_features(bank, as_of, fcfg).to_pandas()
    labels = build_labels(bank, as_of, 12, config=fcfg)
    policy = tier_policy(cfg.tiers.policy)
    rows = []
    caps = [*sorted(args.caps), args.baseline_cap]  # the last is the baseline (None: every row)
    for i, cap in enumerate(caps):
        print(f"[bench_caps] max_train_rows={cap}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        v = fit_value(bank, frame, labels, as_of, replace(cfg.value_settings(), horizon_months=12, max_train_rows=cap), policy=policy,
                      config=fcfg)  # fmt: skip
        t1 = time.perf_counter()
        c = fit_churn(
            bank,
            frame,
            labels,
            as_of,
            replace(cfg.churn_settings(), horizon_months=12, max_train_rows=cap),
            config=fcfg,
        )
        t2 = time.perf_counter()
        rows.append(
            {
                "customers": args.customers,
                "max_train_rows": cap if i < len(caps) - 1 else f"{cap or 'all'} (baseline)",
                "value_train_rows": v.document("value_metrics")["n_train"],
                "value_test_spearman": round(v.metrics.value("test.spearman"), 4),
                "value_test_mae": round(v.metrics.value("test.mae"), 1),
                "value_tier_agreement": round(v.metrics.value("test.tier_agreement"), 4),
                "value_seconds": round(t1 - t0, 1),
                "churn_train_rows": int(c.metrics.value("size.train")),
                "churn_test_roc_auc": round(c.metrics.value("test.roc_auc"), 4),
                "churn_test_brier": round(c.metrics.value("test.brier"), 5),
                "churn_seconds": round(t2 - t1, 1),
            }
        )
    base = rows[-1]
    for r in rows:
        r["value_seconds_ratio"] = round(r["value_seconds"] / base["value_seconds"], 2)
        r["churn_seconds_ratio"] = round(r["churn_seconds"] / base["churn_seconds"], 2)
    print(write_results("caps", rows, args.results))


if __name__ == "__main__":
    main()
