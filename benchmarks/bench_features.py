"""Benchmark the feature table: validation and features from Parquet, time and peak memory.

Baseline (named, measured in the same run): **duckdb-scan** — DuckDB summing the transaction
amounts of the same Parquet files, the I/O floor of any feature that reads the log. Each stage
runs in a fresh process so its peak RSS is its own.

    python benchmarks/bench_features.py                     # 100k customers
    python benchmarks/bench_features.py --customers 1000000 --memory-limit 4GB

Banks are generated once into data/interim/bench/ and reused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import child, write_results

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / "data" / "interim" / "bench"

CHILD_FEATURES = """
import json, resource, sys, time, datetime as dt
from segml.data import load_bank
from segml.features import build_features
t0 = time.perf_counter()
bank = load_bank(sys.argv[1], memory_limit=sys.argv[2] or None)
t1 = time.perf_counter()
table = build_features(bank, dt.date(2024, 12, 31))
t2 = time.perf_counter()
print(json.dumps({"validate_seconds": t1 - t0, "features_seconds": t2 - t1,
                  "rows": table.num_rows, "columns": table.num_columns,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_FLOOR = """
import json, resource, sys, time, duckdb
t = time.perf_counter()
n, s = duckdb.sql(f"SELECT count(*), sum(amount) FROM read_parquet('{sys.argv[1]}')").fetchall()[0]
print(json.dumps({"seconds": time.perf_counter() - t, "transactions": n,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bank(customers: int, seed: int) -> Path:
    from segml.synth import MANIFEST, SynthConfig, generate

    out = CACHE / f"bank_n{customers}_seed{seed}"
    if not (out / MANIFEST).is_file():
        generate(SynthConfig(customers=customers, seed=seed), out, overwrite=out.exists())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[100_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--memory-limit", default="", help="DuckDB memory limit, e.g. 4GB")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    rows = []
    for n in args.customers:
        folder = bank(n, args.seed)
        floor = child(CHILD_FLOOR, str(folder / "transactions.parquet"))
        feat = child(CHILD_FEATURES, str(folder), args.memory_limit)
        row = {
            "customers": n,
            "transactions": floor["transactions"],
            "memory_limit": args.memory_limit or "default",
            "validate_seconds": round(feat["validate_seconds"], 2),
            "features_seconds": round(feat["features_seconds"], 2),
            "feature_columns": feat["columns"],
            "peak_rss_mb": round(feat["peak_rss_mb"]),
            "baseline": "duckdb-scan",
            "baseline_seconds": round(floor["seconds"], 3),
            "features_ratio_to_baseline": round(feat["features_seconds"] / floor["seconds"], 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(write_results("bench_features", rows, args.results))


if __name__ == "__main__":
    main()
