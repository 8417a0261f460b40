"""Benchmark segml's RFM summary against a plain DuckDB query and lifetimes on a synthetic log.

For each size, one seeded log (customers ~ rows / 100 with gamma-distributed activity, timestamps
over four years, lognormal amounts; written in chunks of 10M rows) is written to Parquet with both a
text id ("C00012345") and an int64 id. Per id kind, fresh processes time:

* **segml** ``rfm_summary`` (engine auto) on the pandas frame, and on the Parquet file;
* the **plain DuckDB query** a user would write by hand (``PLAIN`` below: per customer and day the
  sum of amount, then per customer ``count(*) - 1``, max - min day, end - min day and the mean of
  the non-first days' sums), on the same frame (registered) and on the same Parquet file, fetched
  with ``.df().set_index(id)``. segml and the plain query run alternately in one process (so load
  from other work hits both), ``--runs`` times each (default 15 up to 1M rows, where a call
  takes milliseconds, and 5 above); the median is reported. Its result is
  checked equal to segml's (1e-9), so the anchor is honest;
* **lifetimes** ``summary_data_from_transaction_data`` on the frame (3 runs up to 1M rows, 1 above;
  the median), up to ``--lifetimes-max`` rows (10M): above, it would take many minutes and tens of
  GiB, so it is skipped and recorded as null.

Wall time and process CPU time (user + system, all threads) are both reported: on a shared machine
the CPU time is the steadier. lifetimes' output is checked equal to segml's to 1e-9. The timed
calls run without a sampler thread (one polling RSS every 5 ms takes the GIL from the call and
slowed the multi-threaded calls by 15-25%); peak RSS comes from one more call of each, sampled
(psutil, every 5 ms), minus the RSS before it (the input frame is not counted).
``--sources parquet`` skips the in-memory frame (for logs that do not fit in memory).

    python benchmarks/bench_rfm.py                          # 10k, 100k, 1M rows (a few minutes)
    python benchmarks/bench_rfm.py --rows 10000000 100000000 --runs 3   # the big one (~1 h)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from common import child, write_results

HERE = Path(__file__).resolve().parent
CHUNK = 10_000_000

PLAIN = """WITH per_day AS (
  SELECT {id} AS {id}, CAST(ts AS DATE) AS day, sum(amount) AS amount FROM {log} GROUP BY ALL
)
SELECT {id}, CAST(count(*) - 1 AS DOUBLE) AS frequency,
  CAST(max(day) - min(day) AS DOUBLE) AS recency,
  CAST((SELECT CAST(max(ts) AS DATE) FROM {log}) - min(day) AS DOUBLE) AS T,
  coalesce((sum(amount) - arg_min(amount, day)) / nullif(count(*) - 1, 0), 0) AS monetary_value
FROM per_day GROUP BY {id} ORDER BY {id}"""

CHILD = """
import json, statistics, sys, threading, time
import duckdb, numpy as np, pandas as pd, psutil
kind, path, id_col, runs, out, sources = sys.argv[1:7]
runs, sources = int(runs), sources.split(",")
plain_sql = sys.argv[7]
df = pd.read_parquet(path, columns=[id_col, "ts", "amount"]) if "frame" in sources else None
proc = psutil.Process()

cpu = time.process_time  # user + system of all threads, ns resolution (psutil: 10 ms ticks)

def timed(fn):
    # no sampler thread here: a thread polling RSS every few ms takes the GIL from the call
    start, cpu0 = time.perf_counter(), cpu()
    result = fn()
    return result, time.perf_counter() - start, cpu() - cpu0

def peak(fn):
    base, top, done = proc.memory_info().rss, [0], threading.Event()
    def poll():
        while not done.wait(0.005):
            top[0] = max(top[0], proc.memory_info().rss)
    t = threading.Thread(target=poll)
    t.start()
    fn()
    done.set(); t.join()
    return max(top[0], proc.memory_info().rss) - base

def measure(fns):
    # fns: name -> callable; one warm-up call each, then timed runs alternately (median wall
    # and CPU), then one sampled call each for the peak RSS (timed apart: the sampler slows it)
    got = {k: [] for k in fns}
    results = {k: fn() for k, fn in fns.items()}  # warm-up (first-call costs), untimed
    for _ in range(runs):
        for k, fn in fns.items():
            results[k], *rest = timed(fn)
            got[k].append(rest)
    report = {}
    for k, rows in got.items():
        report[k + "_seconds"] = statistics.median(r[0] for r in rows)
        report[k + "_cpu"] = statistics.median(r[1] for r in rows)
        report[k + "_peak_mb"] = peak(fns[k]) / 2**20
    return results, report

report = {}
if kind == "lifetimes":
    from lifetimes.utils import summary_data_from_transaction_data as f
    res, report = measure({"lifetimes": lambda: f(df, id_col, "ts", "amount")})
    res = res["lifetimes"]
else:
    from segml.features.rfm import rfm_summary
    con = duckdb.connect()
    fns = {}
    if df is not None:
        con.register("log", df)
        q = plain_sql.format(id=id_col, log="log")
        fns["segml"] = lambda: rfm_summary(df, id_col, "ts", "amount")
        fns["duckdb"] = lambda: con.sql(q).df().set_index(id_col)
    pq_sql = plain_sql.format(id=id_col, log="read_parquet('" + path + "')")
    fns["segml_parquet"] = lambda: rfm_summary(path, id_col, "ts", "amount")
    fns["duckdb_parquet"] = lambda: con.sql(pq_sql).df().set_index(id_col)
    results, report = measure(fns)
    res = results["segml_parquet"]
    for k, got in results.items():  # the plain query (and segml on each source) agree to 1e-9
        np.testing.assert_array_equal(got.index.to_numpy(), res.index.to_numpy())
        np.testing.assert_allclose(got[list(res.columns)].to_numpy(), res.to_numpy(), rtol=1e-9)
res.to_parquet(out)
report["customers"] = len(res)
print(json.dumps(report))
"""


def _chunk(rng: np.random.Generator, p: np.ndarray, rows: int) -> pd.DataFrame:
    idx = rng.choice(len(p), size=rows, p=p)
    start = np.datetime64("2020-01-01T00:00:00", "s")
    ts = (start + rng.integers(0, 4 * 365 * 86400, size=rows)).astype("datetime64[us]")
    text = np.char.add("C", np.char.zfill(idx.astype(str), 8))
    return pd.DataFrame({
        "customer_id": pd.array(text, dtype="str"),
        "customer_no": idx.astype(np.int64) + 10_000_000,
        "ts": ts,
        "amount": np.round(rng.lognormal(3.0, 1.0, size=rows), 2),
    })  # fmt: skip


def make_log(rows: int, seed: int) -> pd.DataFrame:
    """A seeded log: ~rows/100 customers of gamma-distributed activity over four years."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.7, size=max(rows // 100, 1))
    return _chunk(rng, weights / weights.sum(), rows)


def write_log(path: Path, rows: int, seed: int) -> None:
    """:func:`make_log` written to Parquet; above ``CHUNK`` rows, drawn and written in chunks."""
    if rows <= CHUNK:
        make_log(rows, seed).to_parquet(path, row_group_size=1 << 20)
        return
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.7, size=rows // 100)
    p, writer = weights / weights.sum(), None
    for done in range(0, rows, CHUNK):
        tbl = pa.Table.from_pandas(_chunk(rng, p, min(CHUNK, rows - done)), preserve_index=False)
        writer = writer or pq.ParquetWriter(path, tbl.schema)
        writer.write_table(tbl, row_group_size=1 << 20)
    writer.close()


def row_of(rows: int, ids: str, sg: dict, lt: dict | None) -> dict:
    """One result row: segml against the plain query and (when run) lifetimes."""
    r = {"rows": rows, "ids": ids, "customers": sg["customers"]}
    if "segml_seconds" in sg:  # the in-memory frame
        r |= {"segml_s": round(sg["segml_seconds"], 4), "duckdb_s": round(sg["duckdb_seconds"], 4)}
        r["segml_over_duckdb"] = round(sg["segml_seconds"] / sg["duckdb_seconds"], 2)
        r["segml_cpu_s"], r["duckdb_cpu_s"] = round(sg["segml_cpu"], 4), round(sg["duckdb_cpu"], 4)
    r["lifetimes_s"] = None if lt is None else round(lt["lifetimes_seconds"], 3)
    r["lifetimes_cpu_s"] = None if lt is None else round(lt["lifetimes_cpu"], 3)
    if "segml_seconds" in sg:
        r["speedup"] = (
            None if lt is None else round(lt["lifetimes_seconds"] / sg["segml_seconds"], 1)
        )
        r["cpu_speedup"] = None if lt is None else round(lt["lifetimes_cpu"] / sg["segml_cpu"], 1)
    r["segml_parquet_s"] = round(sg["segml_parquet_seconds"], 4)
    r["duckdb_parquet_s"] = round(sg["duckdb_parquet_seconds"], 4)
    r["parquet_segml_over_duckdb"] = round(
        sg["segml_parquet_seconds"] / sg["duckdb_parquet_seconds"], 2
    )
    r["lifetimes_peak_mb"] = None if lt is None else round(lt["lifetimes_peak_mb"])
    for k in ("segml", "duckdb", "segml_parquet", "duckdb_parquet"):
        if k + "_peak_mb" in sg:
            r[k + "_peak_mb"] = round(sg[k + "_peak_mb"])
    r["equal_1e-9"] = True
    return r


def measure(rows: int, ids: str, log: Path, tmp: Path, args: argparse.Namespace) -> dict:
    """Run the children for one size and id kind; check the results agree; return the row."""
    id_col = "customer_id" if ids == "str" else "customer_no"
    sources = ",".join(args.sources)
    runs = args.runs or (15 if rows <= 1_000_000 else 5)
    sg = child(CHILD, "segml", log, id_col, runs, tmp / "sg.parquet", sources, PLAIN)
    lt = None
    if rows <= args.lifetimes_max and "frame" in args.sources:
        lt_runs = 3 if rows <= 1_000_000 else 1
        lt = child(CHILD, "lifetimes", log, id_col, lt_runs, tmp / "lt.parquet", "frame", PLAIN)
        expected = pd.read_parquet(tmp / "lt.parquet").sort_index()
        got = pd.read_parquet(tmp / "sg.parquet")
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
    return row_of(rows, ids, sg, lt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--ids", nargs="+", choices=["str", "int"], default=["str", "int"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, help="segml/plain runs (median reported); default 15 up to 1M rows, 5 above")  # fmt: skip
    ap.add_argument("--lifetimes-max", type=int, default=10_000_000, help="skip lifetimes above")
    ap.add_argument("--sources", nargs="+", choices=["frame", "parquet"], default=["frame", "parquet"])  # fmt: skip
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    table = []
    (HERE.parent / "data" / "interim").mkdir(parents=True, exist_ok=True)
    for rows in args.rows:
        with tempfile.TemporaryDirectory(dir=HERE.parent / "data" / "interim") as tmp:
            log = Path(tmp) / "log.parquet"
            write_log(log, rows, args.seed)
            for ids in args.ids:
                table.append(measure(rows, ids, log, Path(tmp), args))
                print(table[-1], flush=True)
    text = write_results("bench_rfm", table, args.results)
    notes = (
        f"\nsegml_s / duckdb_s: median of {args.runs or '15 (up to 1M rows; 5 above)'} alternating runs of `rfm_summary` (engine "
        "auto) and of the plain two-level DuckDB GROUP BY (`PLAIN` in bench_rfm.py, fetched with "
        "`.df()`) on the same pandas frame; *_parquet_s: the same on the Parquet file; "
        "segml_over_duckdb: segml_s / duckdb_s (<= 1: segml no slower). lifetimes_s: median of 3 "
        "runs up to 1M rows, 1 run above; null: not run (above --lifetimes-max = "
        f"{args.lifetimes_max} rows, where it takes many minutes and tens of GiB, or no frame). "
        "*_cpu_s: process CPU time (user + system, all threads) of the same calls, timed without a "
        "sampler thread. Peaks: RSS sampled every 5 ms during one more call, minus RSS before it. Every function is called once untimed first "
        "(warm-up). All results equal to 1e-9.\n"
    )
    with (args.results / "bench_rfm.md").open("a") as f:
        f.write(notes)
    print(text + notes)


if __name__ == "__main__":
    main()
