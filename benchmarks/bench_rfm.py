"""Benchmark segml's RFM summary against lifetimes on a synthetic transaction log.

For each size, one seeded log (customers ~ rows / 100 with gamma-distributed activity, timestamps
over four years, lognormal amounts) is written to Parquet with both a text id ("C00012345") and an
int64 id. Per id kind, fresh processes time:

* **lifetimes** ``summary_data_from_transaction_data`` on the pandas frame (3 runs up to 1M rows,
  1 run above; the median is reported);
* **segml** ``rfm_summary`` on the same frame, and on the Parquet file directly (out of core);
* the **I/O floor**: DuckDB ``SELECT sum(amount)`` over the same frame;

segml and the floor report the median of ``--runs`` (5) runs. Wall time and process CPU time are
both reported: on a shared machine the CPU time is the steadier of the two.

Both outputs are checked equal to 1e-9. Peak RSS is sampled (psutil, every 5 ms) during each call,
minus the RSS before it, so the input frame is not counted.

    python benchmarks/bench_rfm.py                          # 1M rows
    python benchmarks/bench_rfm.py --rows 1000000 10000000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import child, write_results

HERE = Path(__file__).resolve().parent

CHILD = """
import json, statistics, sys, threading, time
import duckdb, pandas as pd, psutil
kind, path, id_col, runs, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
df = pd.read_parquet(path, columns=[id_col, "ts", "amount"])
proc = psutil.Process()

def cpu():
    t = proc.cpu_times()
    return t.user + t.system

def measure(fn):
    seconds, cpus, peaks = [], [], []
    for _ in range(runs):
        base, peak, done = proc.memory_info().rss, [0], threading.Event()
        def poll():
            while not done.wait(0.005):
                peak[0] = max(peak[0], proc.memory_info().rss)
        t = threading.Thread(target=poll)
        t.start()
        start, cpu0 = time.perf_counter(), cpu()
        result = fn()
        seconds.append(time.perf_counter() - start)
        cpus.append(cpu() - cpu0)
        done.set(); t.join()
        peaks.append(max(peak[0], proc.memory_info().rss) - base)
    return result, statistics.median(seconds), statistics.median(cpus), max(peaks) / 2**20

report = {}
if kind == "lifetimes":
    from lifetimes.utils import summary_data_from_transaction_data as f
    res, report["seconds"], report["cpu"], report["peak_mb"] = measure(
        lambda: f(df, id_col, "ts", "amount"))
else:
    from segml.features.rfm import rfm_summary
    res, report["seconds"], report["cpu"], report["peak_mb"] = measure(
        lambda: rfm_summary(df, id_col, "ts", "amount"))
    _, report["parquet_seconds"], _, report["parquet_peak_mb"] = measure(
        lambda: rfm_summary(path, id_col, "ts", "amount"))
    con = duckdb.connect()
    con.register("log", df)
    _, report["floor_seconds"], _, _ = measure(lambda: con.sql("SELECT sum(amount) FROM log").fetchall())
res.to_parquet(out)
report["customers"] = len(res)
print(json.dumps(report))
"""


def make_log(rows: int, seed: int) -> pd.DataFrame:
    """A seeded log: ~rows/100 customers of gamma-distributed activity over four years."""
    rng = np.random.default_rng(seed)
    customers = max(rows // 100, 1)
    weights = rng.gamma(0.7, size=customers)
    idx = rng.choice(customers, size=rows, p=weights / weights.sum())
    start = np.datetime64("2020-01-01T00:00:00", "s")
    ts = (start + rng.integers(0, 4 * 365 * 86400, size=rows)).astype("datetime64[us]")
    text = np.char.add("C", np.char.zfill(idx.astype(str), 8))
    return pd.DataFrame({
        "customer_id": pd.array(text, dtype="str"),
        "customer_no": idx.astype(np.int64) + 10_000_000,
        "ts": ts,
        "amount": np.round(rng.lognormal(3.0, 1.0, size=rows), 2),
    })  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--ids", nargs="+", choices=["str", "int"], default=["str", "int"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5, help="segml runs (the median is reported)")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    table = []
    (HERE.parent / "data" / "interim").mkdir(parents=True, exist_ok=True)
    for rows in args.rows:
        with tempfile.TemporaryDirectory(dir=HERE.parent / "data" / "interim") as tmp:
            log = Path(tmp) / "log.parquet"
            make_log(rows, args.seed).to_parquet(log, row_group_size=1 << 20)
            for ids in args.ids:
                id_col = "customer_id" if ids == "str" else "customer_no"
                lt_runs = 3 if rows <= 1_000_000 else 1
                lt = child(CHILD, "lifetimes", log, id_col, lt_runs, Path(tmp) / "lt.parquet")
                sg = child(CHILD, "segml", log, id_col, args.runs, Path(tmp) / "sg.parquet")
                expected = pd.read_parquet(Path(tmp) / "lt.parquet").sort_index()
                got = pd.read_parquet(Path(tmp) / "sg.parquet")
                pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
                row = {
                    "rows": rows,
                    "ids": ids,
                    "customers": sg["customers"],
                    "lifetimes_s": round(lt["seconds"], 3),
                    "segml_s": round(sg["seconds"], 3),
                    "speedup": round(lt["seconds"] / sg["seconds"], 1),
                    "lifetimes_cpu_s": round(lt["cpu"], 3),
                    "segml_cpu_s": round(sg["cpu"], 3),
                    "cpu_speedup": round(lt["cpu"] / sg["cpu"], 1),
                    "floor_s": round(sg["floor_seconds"], 4),
                    "segml_over_floor": round(sg["seconds"] / sg["floor_seconds"], 1),
                    "segml_parquet_s": round(sg["parquet_seconds"], 3),
                    "lifetimes_peak_mb": round(lt["peak_mb"]),
                    "segml_peak_mb": round(sg["peak_mb"]),
                    "segml_parquet_peak_mb": round(sg["parquet_peak_mb"]),
                    "equal_1e-9": True,
                }
                table.append(row)
                print(row, flush=True)
    text = write_results("bench_rfm", table, args.results)
    notes = (
        f"\nlifetimes_s: median of 3 runs up to 1M rows, 1 run above; segml_s: median of "
        f"{args.runs} runs of `rfm_summary` on the same pandas frame (engine auto); *_cpu_s: "
        "process CPU time (user + system, all threads) of the same calls; floor_s: DuckDB "
        "`SELECT sum(amount)` over that frame; segml_parquet_s: `rfm_summary` on the Parquet "
        "file. Peaks: sampled RSS during the call minus RSS before it.\n"
    )
    with (args.results / "bench_rfm.md").open("a") as f:
        f.write(notes)
    print(text + notes)


if __name__ == "__main__":
    main()
