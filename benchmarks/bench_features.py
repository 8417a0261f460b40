"""Benchmark the feature table: validation (cold and cached) and features from Parquet.

Baselines (named, measured in the same run, each in a fresh process so its peak RSS is its
own):

* **duckdb-scan** — DuckDB summing the transaction amounts of the same Parquet file: the I/O
  floor of any feature that reads the log.
* **duckdb-groupby** — one DuckDB ``GROUP BY customer_id`` pass over the transaction columns
  the feature SQL reads (one aggregate per column): the floor of a feature build that scans
  the log once.

Validation is timed twice: **cold** (an empty validation cache: every rule runs, the report is
stored) and **warm** (the same files again: ``load_bank`` is a cache hit, costing the content
digest of the files and the views' registration). **digest** times the SHA-256 of the files
alone. Rounds alternate the runs (``--repeats``) and each figure is the fastest round's, wall
and CPU seconds (CPU: every thread of the process).

    python benchmarks/bench_features.py                     # 100k customers
    python benchmarks/bench_features.py --customers 1000000 --memory-limit 4GB

Banks are generated once into data/interim/bench/ and reused; the validation cache lives in a
temporary folder of the run (``SEGML_CACHE_DIR``), never the user's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from common import child, write_results

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / "data" / "interim" / "bench"
#: The transaction columns the feature SQL reads (segml.features.families; ``direction`` only
#: under purchase-log economics).
TX_COLUMNS = ("customer_id", "timestamp", "amount", "kind", "channel")

CHILD_FEATURES = """
import json, resource, sys, time, datetime as dt
from segml.data import load_bank
from segml.features import build_features
w0, c0 = time.perf_counter(), time.process_time()
bank = load_bank(sys.argv[1], memory_limit=sys.argv[2] or None)
w1, c1 = time.perf_counter(), time.process_time()
table = build_features(bank, dt.date(2024, 12, 31))
w2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"validate": [w1 - w0, c1 - c0], "features": [w2 - w1, c2 - c1],
                  "cached": bank.report.cached, "rows": table.num_rows,
                  "columns": table.num_columns,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_FLOOR = """
import json, resource, sys, time, duckdb
w, c = time.perf_counter(), time.process_time()
n, s = duckdb.sql(f"SELECT count(*), sum(amount) FROM read_parquet('{sys.argv[1]}')").fetchall()[0]
print(json.dumps({"time": [time.perf_counter() - w, time.process_time() - c], "transactions": n,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_GROUPBY = """
import json, resource, sys, time, duckdb
w, c = time.perf_counter(), time.process_time()
t = duckdb.sql(f"SELECT customer_id, {sys.argv[2]} FROM read_parquet('{sys.argv[1]}') "
               "GROUP BY customer_id").to_arrow_table()
print(json.dumps({"time": [time.perf_counter() - w, time.process_time() - c],
                  "groups": t.num_rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_DIGEST = """
import json, sys, time
from pathlib import Path
from segml.contract import CONTRACT
from segml.digest import file_digest
from segml.io import locate_table
files = [f for t in CONTRACT for f in locate_table(Path(sys.argv[1]), t)]
w, c = time.perf_counter(), time.process_time()
for f in files:
    file_digest(f)
print(json.dumps({"time": [time.perf_counter() - w, time.process_time() - c],
                  "mb": sum(f.stat().st_size for f in files) / 1e6}))
"""

#: One aggregate per transaction column the features read, customer_id being the key.
GROUPBY_AGGS = "min(timestamp), sum(amount), max(kind), max(channel)"


def bank(customers: int, seed: int) -> Path:
    from segml.synth import MANIFEST, SynthConfig, generate

    out = CACHE / f"bank_n{customers}_seed{seed}"
    if not (out / MANIFEST).is_file():
        generate(SynthConfig(customers=customers, seed=seed), out, overwrite=out.exists())
    return out


def _round(folder: Path, memory_limit: str) -> dict[str, dict]:
    """One round of every run, alternating: floors, digest, cold then warm validation."""
    tx = str(folder / "transactions.parquet")
    out = {"floor": child(CHILD_FLOOR, tx), "groupby": child(CHILD_GROUPBY, tx, GROUPBY_AGGS)}
    out["digest"] = child(CHILD_DIGEST, folder)
    cache = tempfile.mkdtemp(prefix="segml-bench-cache-")
    os.environ["SEGML_CACHE_DIR"] = cache  # the children inherit it
    try:
        out["cold"] = child(CHILD_FEATURES, folder, memory_limit)
        out["warm"] = child(CHILD_FEATURES, folder, memory_limit)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert not out["cold"]["cached"] and out["warm"]["cached"], "the cache did not hit"
    return out


def _best(rounds: list[dict], run: str, key: str = "time") -> tuple[float, float]:
    """The fastest round's (wall, CPU) seconds of ``run``."""
    return min(tuple(r[run][key]) for r in rounds)


def _row(n: int, memory_limit: str, rounds: list[dict]) -> dict:
    floor, groupby, digest = (_best(rounds, k) for k in ("floor", "groupby", "digest"))
    cold, warm = _best(rounds, "cold", "validate"), _best(rounds, "warm", "validate")
    feats = min(_best(rounds, "cold", "features"), _best(rounds, "warm", "features"))
    last = rounds[-1]
    return {
        "customers": n,
        "transactions": last["floor"]["transactions"],
        "memory_limit": memory_limit or "default",
        "rounds": len(rounds),
        "validate_seconds": round(cold[0], 2),
        "validate_cpu_seconds": round(cold[1], 2),
        "validate_cached_seconds": round(warm[0], 2),
        "validate_cached_cpu_seconds": round(warm[1], 2),
        "digest_seconds": round(digest[0], 3),
        "digest_mb": round(last["digest"]["mb"]),
        "features_seconds": round(feats[0], 2),
        "features_cpu_seconds": round(feats[1], 2),
        "feature_columns": last["warm"]["columns"],
        "peak_rss_mb": round(max(r[k]["peak_rss_mb"] for r in rounds for k in ("cold", "warm"))),
        "baseline": "duckdb-scan",
        "baseline_seconds": round(floor[0], 3),
        "baseline_cpu_seconds": round(floor[1], 3),
        "features_ratio_to_baseline": round(feats[0] / floor[0], 1),
        "groupby_baseline": "duckdb-groupby",
        "groupby_seconds": round(groupby[0], 3),
        "groupby_cpu_seconds": round(groupby[1], 3),
        "features_ratio_to_groupby": round(feats[0] / groupby[0], 1),
        "cached_features_ratio_to_groupby": round((warm[0] + feats[0]) / groupby[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[100_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--memory-limit", default="", help="DuckDB memory limit, e.g. 4GB")
    ap.add_argument("--repeats", type=int, default=2, help="rounds; the fastest counts")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    rows = []
    for n in args.customers:
        folder = bank(n, args.seed)
        rounds = [_round(folder, args.memory_limit) for _ in range(args.repeats)]
        rows.append(_row(n, args.memory_limit, rounds))
        print(json.dumps(rows[-1]), flush=True)
    print(write_results("bench_features", rows, args.results))


if __name__ == "__main__":
    main()
