"""Benchmark and measure segml.clv: CDNOW reproduction, synthetic-bank holdout, prediction speed.

Three parts, each in a fresh process (so timings and peak memory are its own):

* **cdnow** — BG/NBD, Pareto/NBD, MBG/NBD and Gamma-Gamma on the CDNOW sample (calibration to
  1997-09-30, days counted in weeks): fitted parameters, log-likelihood, fit time.
* **bank** — the ``segml run`` CLV stage on a synthetic bank (as-of 2024-12-31, 12-month label
  window): holdout metrics of BG/NBD + Gamma-Gamma against the supervised models and naive
  baselines, stage time. Baselines named in the rows: ``naive_last_window`` (spend in the
  window before the as-of date) and ``naive_calibration_rate`` (calibration spend rate × horizon).
* **predict** — P(alive) and expected purchases for ``--rows`` customers with segml's formulas
  and with lifetimes' (the baseline): time and how many values each leaves non-finite.

    python benchmarks/bench_clv.py                      # 5,000-customer bank
    python benchmarks/bench_clv.py --customers 20000 --results /tmp/clv_bench --cache /tmp
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import child, write_results

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / "data" / "interim" / "bench"

CHILD_CDNOW = """
import json, sys, time, warnings
from segml.clv import ClvModel, TimeUnit, calibration_holdout, check_log
from segml.loaders import load_cdnow
log = check_log(load_cdnow("sample"), "customer_id", "timestamp", "amount")
rfm = calibration_holdout(log, "1997-09-30", "1998-06-30", TimeUnit("D", 7)).summary
rows = []
for kind in ("bgnbd", "pareto", "mbgnbd"):
    t = time.perf_counter()
    m = ClvModel(kind, "D", 7).fit(rfm)
    rows.append({"model": kind, "fit_seconds": round(time.perf_counter() - t, 3),
                 "log_likelihood": round(m.purchase_.log_likelihood_, 2),
                 "retries": m.purchase_.fit_report_.retries,
                 "params": ", ".join(f"{k}={v:.4g}" for k, v in m.params().items())})
print(json.dumps(rows))
"""

CHILD_BANK = """
import json, resource, sys, time, warnings, datetime as dt
from segml.data import load_bank
from segml.features import build_features
from segml.clv import ClvSettings, fit_clv
warnings.simplefilter("ignore")
bank = load_bank(sys.argv[1], reference_date="2030-01-01")
as_of = dt.date(2024, 12, 31)
features = build_features(bank, as_of)
rows = []
for kind in ("bgnbd", "pareto", "mbgnbd"):
    t = time.perf_counter()
    res = fit_clv(bank, features, as_of, ClvSettings(model=kind))
    secs = time.perf_counter() - t
    m = res.metrics.to_dict()
    rows.append({"model": kind, "target": "purchase days", "predictor": kind,
                 "aggregate_error": m["holdout.purchases.aggregate_error"],
                 "mae": m["holdout.purchases.mae"], "spearman": m["holdout.purchases.spearman"],
                 "gini": None, "decile_mape": None, "stage_seconds": secs})
    for target in ("spend", "profit"):
        names = sorted({k.split(".")[2] for k in m if k.startswith(f"holdout.{target}.")})
        for name in names:
            g = lambda s: m[f"holdout.{target}.{name}.{s}"]
            rows.append({"model": kind, "target": target, "predictor": name,
                         "aggregate_error": g("aggregate_error"), "mae": g("mae"),
                         "spearman": g("spearman"), "gini": g("gini_normalised"),
                         "decile_mape": g("decile_mape"), "stage_seconds": secs})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps([r | {"peak_rss_mb": round(peak)} for r in rows]))
"""

CHILD_PREDICT = """
import json, sys, time, warnings
import numpy as np, pandas as pd
from segml.clv import formulas
from segml.clv.adapter import _lifetimes
n = int(sys.argv[1])
rng = np.random.default_rng(0)
T = rng.uniform(30, 1460, n)
x = np.floor(rng.uniform(0, 1, n) ** 3 * T)  # up to daily buyers
tx = np.where(x > 0, T * rng.uniform(0.5, 1.0, n), 0.0)
params = {"bgnbd": {"r": 0.81, "alpha": 11.4, "a": 0.26, "b": 41.0},
          "mbgnbd": {"r": 0.81, "alpha": 11.4, "a": 0.26, "b": 41.0},
          "pareto": {"r": 0.85, "alpha": 12.0, "s": 0.64, "beta": 2129.0}}
lt = _lifetimes()
cls = {"bgnbd": lt.BetaGeoFitter, "mbgnbd": lt.ModifiedBetaGeoFitter, "pareto": lt.ParetoNBDFitter}
rows = []
for kind, p in params.items():
    t = time.perf_counter()
    a = formulas.p_alive(kind, p, x, tx, T); e = formulas.expected_purchases(kind, p, 365, x, tx, T)
    ours = time.perf_counter() - t
    ref = cls[kind](); ref.params_ = pd.Series(p)
    t = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        la = ref.conditional_probability_alive(x, tx, T)
        le = ref.conditional_expected_number_of_purchases_up_to_time(365, x, tx, T)
    theirs = time.perf_counter() - t
    bad = lambda v: int((~np.isfinite(np.asarray(v, dtype=float))).sum())
    rows.append({"model": kind, "rows": n, "segml_seconds": round(ours, 3),
                 "segml_non_finite": bad(a) + bad(e), "lifetimes_seconds": round(theirs, 3),
                 "lifetimes_non_finite": bad(la) + bad(le)})
print(json.dumps(rows))
"""


def _bank(customers: int, seed: int, cache: Path) -> Path:
    from segml.synth import SynthConfig, generate

    folder = cache / f"clv_bank_n{customers}_seed{seed}"
    if not (folder / "transactions.parquet").exists():
        generate(SynthConfig(customers=customers, seed=seed), folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where banks are generated")
    args = parser.parse_args()
    cdnow = child(CHILD_CDNOW)
    print(write_results("bench_clv_cdnow", cdnow, args.results))
    bank = child(CHILD_BANK, _bank(args.customers, args.seed, args.cache))
    rounded = [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in bank
    ]
    print(write_results("bench_clv_bank", rounded, args.results))
    print(write_results("bench_clv_predict", child(CHILD_PREDICT, args.rows), args.results))


if __name__ == "__main__":
    main()
