"""Benchmark the synthetic bank generator: wall time, peak memory, ratio to an I/O floor.

Baseline (named, measured in the same run): **duckdb-copy** — DuckDB writing the same number of
transaction rows, with the same eight columns filled by cheap expressions, to one Parquet file.
That is the cost of just producing and writing the biggest table; the ratio says how much the
generator's simulation adds on top.

Each measurement runs in a fresh process, so its peak RSS is its own.

    python benchmarks/bench_synth.py                       # 100k customers
    python benchmarks/bench_synth.py --customers 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import child, write_results

HERE = Path(__file__).resolve().parent

CHILD_SYNTH = """
import json, resource, sys, time
from segml.synth import SynthConfig, generate
t = time.perf_counter()
r = generate(SynthConfig(customers=int(sys.argv[1]), seed=int(sys.argv[2])), sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - t, "rows": r.row_counts,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_FLOOR = """
import json, resource, sys, time, duckdb
n, out = int(sys.argv[1]), sys.argv[2]
t = time.perf_counter()
duckdb.sql(f'''COPY (SELECT i AS transaction_id, 'A' || lpad((i % 250000)::VARCHAR, 9, '0') AS account_id,
  'C' || lpad((i % 100000)::VARCHAR, 8, '0') AS customer_id,
  TIMESTAMP '2021-01-01' + to_seconds(i % 157680000) AS timestamp, (i % 9973) * 1.37 AS amount,
  CASE WHEN i % 3 = 0 THEN 'credit' ELSE 'debit' END AS direction,
  CASE i % 5 WHEN 0 THEN 'mobile' WHEN 1 THEN 'pos' WHEN 2 THEN 'atm' WHEN 3 THEN 'online' ELSE 'branch' END AS channel,
  CASE i % 4 WHEN 0 THEN 'transfer_out' WHEN 1 THEN 'card_payment' WHEN 2 THEN 'salary' ELSE 'fee' END AS kind
  FROM range({n}) t(i)) TO '{out}' (FORMAT parquet)''')
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def pareto(folder: Path) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    g = pd.read_parquet(folder / "ground_truth.parquet")
    v = np.sort(g.loc[g.active_at_as_of, "profit_trailing_12m"].to_numpy())[::-1]
    return {
        "top20_profit_share": float(v[: len(v) // 5].sum() / v.sum()),
        "loss_making_share": float((v < 0).mean()),
        "churn_rate_label_window": float(g.loc[g.active_at_as_of, "churned"].mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[100_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    rows = []
    for n in args.customers:
        with tempfile.TemporaryDirectory(dir=HERE.parent / "data" / "interim") as tmp:
            synth = child(CHILD_SYNTH, n, args.seed, Path(tmp) / "bank")
            shares = pareto(Path(tmp) / "bank")
            floor = child(CHILD_FLOOR, synth["rows"]["transactions"], Path(tmp) / "floor.parquet")
            size = sum(f.stat().st_size for f in (Path(tmp) / "bank").glob("*.parquet"))
        row = {
            "customers": n,
            "transactions": synth["rows"]["transactions"],
            "total_rows": sum(synth["rows"].values()),
            "synth_seconds": round(synth["seconds"], 2),
            "synth_peak_rss_mb": round(synth["peak_rss_mb"]),
            "parquet_mb": round(size / 2**20),
            "baseline": "duckdb-copy",
            "baseline_seconds": round(floor["seconds"], 2),
            "ratio_to_baseline": round(synth["seconds"] / floor["seconds"], 2),
            "rows_per_second": round(sum(synth["rows"].values()) / synth["seconds"]),
            **{k: round(v, 3) for k, v in shares.items()},
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(write_results("bench_synth", rows, args.results))


if __name__ == "__main__":
    main()
