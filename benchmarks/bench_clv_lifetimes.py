"""segml's CLV model against lifetimes, side by side: fit and predict at 1M customers.

The same RFM summary (simulated from BG/NBD + Gamma-Gamma, in whole days as a calibration
period gives them) is fitted and predicted by

* **segml**: ``ClvModel("bgnbd").fit(rfm)`` then ``.predict(rfm, horizon=365)`` (P(alive),
  expected purchases, expected spend, discounted CLV);
* **lifetimes**: ``BetaGeoFitter().fit`` + ``GammaGammaFitter().fit`` on the repeat buyers, then
  ``conditional_probability_alive``, ``conditional_expected_number_of_purchases_up_to_time``,
  ``conditional_expected_average_profit`` and ``customer_lifetime_value`` (12 months, 10 % a
  year) — what a user would otherwise call.

Each side runs in its own process, alternated ``--repeats`` times (A B A B …); the table has the
minimum wall time and CPU of each, their ratio, and how far segml's parameters and predictions
are from lifetimes' (largest relative difference).

    python benchmarks/bench_clv_lifetimes.py                    # 1,000,000 customers
    python benchmarks/bench_clv_lifetimes.py --customers 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import child, write_results

HERE = Path(__file__).resolve().parent

SIMULATE = """
import numpy as np, pandas as pd

def simulate(n, seed=0):
    # BG/NBD in days (CDNOW-like rates) and Gamma-Gamma spend; whole days, as a calibration gives
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.24, 1 / 4.41, n) / 7
    p = rng.beta(0.79, 2.43, n)
    T = rng.integers(30, 1461, n).astype(float)
    t, x, tx = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        i = np.flatnonzero(alive)
        t[i] += rng.exponential(1 / lam[i])
        ok = t[i] <= T[i]
        j = i[ok]
        x[j] += 1
        tx[j] = np.floor(t[j])
        alive[i[~ok]] = False
        alive[j] = rng.random(len(j)) >= p[j]
    nu = rng.gamma(3.74, 1 / 15.44, n)
    m = np.where(x > 0, rng.gamma(6.25 * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    return pd.DataFrame({"frequency": x, "recency": np.minimum(tx, T), "T": T,
                         "monetary_value": m * 10})
"""

CHILD_SEGML = (
    SIMULATE
    + """
import json, sys, time, warnings
from segml.clv import ClvModel
rfm = simulate(int(sys.argv[1]))
w0, c0 = time.perf_counter(), time.process_time()
m = ClvModel("bgnbd").fit(rfm)
w1, c1 = time.perf_counter(), time.process_time()
pred = m.predict(rfm, horizon=365, annual_rate=0.1)
w2, c2 = time.perf_counter(), time.process_time()
np.save(sys.argv[2], pred[["p_alive", "expected_purchases", "expected_spend"]].to_numpy())
print(json.dumps({"fit_s": w1 - w0, "fit_cpu_s": c1 - c0, "predict_s": w2 - w1,
                  "predict_cpu_s": c2 - c1, "params": m.params(),
                  "unique_triples": int(len(rfm[["frequency", "recency", "T"]].drop_duplicates()))}))
"""
)

CHILD_LIFETIMES = (
    SIMULATE
    + """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import lifetimes
rfm = simulate(int(sys.argv[1]))
f, r, T, mv = (rfm[c] for c in ("frequency", "recency", "T", "monetary_value"))
buyers = rfm[(f > 0) & (mv > 0)]
w0, c0 = time.perf_counter(), time.process_time()
with np.errstate(all="ignore"):
    bgf = lifetimes.BetaGeoFitter().fit(f, r, T)
    ggf = lifetimes.GammaGammaFitter().fit(buyers["frequency"], buyers["monetary_value"])
w1, c1 = time.perf_counter(), time.process_time()
with np.errstate(all="ignore"):
    alive = bgf.conditional_probability_alive(f, r, T)
    purchases = bgf.conditional_expected_number_of_purchases_up_to_time(365, f, r, T)
    spend = ggf.conditional_expected_average_profit(f, mv)
    clv = ggf.customer_lifetime_value(bgf, f, r, T, mv, time=12, discount_rate=0.1 / 12, freq="D")
w2, c2 = time.perf_counter(), time.process_time()
np.save(sys.argv[2], np.column_stack([np.asarray(alive), np.asarray(purchases), np.asarray(spend)]))
params = {**{k: float(v) for k, v in bgf.params_.items()},
          "p": float(ggf.params_["p"]), "q": float(ggf.params_["q"]), "gamma": float(ggf.params_["v"])}
print(json.dumps({"fit_s": w1 - w0, "fit_cpu_s": c1 - c0, "predict_s": w2 - w1,
                  "predict_cpu_s": c2 - c1, "params": params}))
"""
)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args()
    import numpy as np

    runs: dict[str, list[dict]] = {"segml": [], "lifetimes": []}
    tmp = tempfile.TemporaryDirectory(prefix="segml-bench-clv-")  # the two sides' predictions
    out = Path(tmp.name)
    for _ in range(args.repeats):  # A B A B: a busy spell hits both sides alike
        for name, code in (("segml", CHILD_SEGML), ("lifetimes", CHILD_LIFETIMES)):
            runs[name].append(child(code, args.customers, out / f"{name}.npy"))
    ours, theirs = runs["segml"][-1], runs["lifetimes"][-1]
    a, b = np.load(out / "segml.npy"), np.load(out / "lifetimes.npy")
    finite = np.isfinite(a) & np.isfinite(b)
    pred_diff = float(np.max(np.abs(a - b)[finite] / np.maximum(np.abs(b[finite]), 1e-300)))
    param_diff = max(_rel(ours["params"][k], v) for k, v in theirs["params"].items())
    rows = []
    for work in ("fit", "predict"):
        s = min(r[f"{work}_s"] for r in runs["segml"])
        lt = min(r[f"{work}_s"] for r in runs["lifetimes"])
        rows.append({
            "work": f"BG/NBD + Gamma-Gamma {work}", "customers": args.customers,
            "segml_s": round(s, 2), "segml_cpu_s": round(min(r[f"{work}_cpu_s"] for r in runs["segml"]), 2),
            "lifetimes_s": round(lt, 2),
            "lifetimes_cpu_s": round(min(r[f"{work}_cpu_s"] for r in runs["lifetimes"]), 2),
            "speedup_vs_lifetimes": round(lt / s, 2),
            "max_rel_diff": f"{param_diff:.1e} (parameters)" if work == "fit" else f"{pred_diff:.1e} (P(alive), purchases, spend)",
            "unique_rfm_triples": ours["unique_triples"],
        })  # fmt: skip
    tmp.cleanup()
    print(write_results("bench_clv_lifetimes", rows, args.results))


if __name__ == "__main__":
    main()
