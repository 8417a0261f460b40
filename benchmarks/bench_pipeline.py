"""End-to-end benchmark: `segml run` on synthetic banks of growing size, stage by stage.

For each ``--customers`` size, in a fresh process: generate (or reuse) the synthetic bank, then
``segml run`` on it (every stage: features, CLV, churn, value, tiers, segments, grades,
explanations, export to the registry), then ``segml report`` on that run (the review pack), in
a throwaway project folder, so nothing touches the
repository's store. Reported per size: each stage's wall time (from the run's ``run.json``), the
whole run's wall time and peak RSS of the run process, and — between consecutive sizes — the
scaling exponent ``log(t2 / t1) / log(n2 / n1)`` of each stage (1 = linear). The baseline of
each stage is the same stage at the smallest size (``ratio_to_smallest``).

    python benchmarks/bench_pipeline.py                            # 2,000 and 5,000 customers
    python benchmarks/bench_pipeline.py --customers 100000 1000000  # docs/scaling.md (~25 min)

Besides ``pipeline.{json,md}`` it writes each stage's steps with their seconds and memory peak
(``pipeline_steps``) and each stage's memory as it ended and at its peak (``pipeline_memory``).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import write_results

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / "data" / "raw" / "synthetic"


def run_once(customers: int, seed: int, cache: Path, workdir: Path) -> dict:
    """One `segml run` of ``customers`` in a fresh process; stage seconds and peak RSS."""
    project = workdir / f"n{customers}"
    (project / "experiments" / "configs").mkdir(parents=True, exist_ok=True)
    cfg = {
        "name": f"bench{customers}",
        "seed": seed,
        "synthetic": {"customers": customers, "cache_dir": str(cache)},
        "tracking": {"experiment": "segml-bench"},
    }
    path = project / "experiments" / "configs" / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run(  # the run's progress (stderr) goes to this terminal
        [sys.executable, "-m", "segml", "run", "--config", str(path), "--json"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"segml run failed on {customers:,} customers (see its stderr above)")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = json.loads(r.stdout)
    t1 = time.perf_counter()  # the review pack of the run, as a user makes it next
    rep = subprocess.run(
        [sys.executable, "-m", "segml", "report", "--run-id", out["run_id"], "--config", str(path),
         "--json"], capture_output=True, text=True,
    )  # fmt: skip
    if rep.returncode != 0:
        raise RuntimeError(rep.stderr[-3000:])
    report_s = time.perf_counter() - t1
    return {
        "customers": customers,
        "wall_s": wall,
        "peak_rss_mb": max(peak, before) / 1024,  # the largest child so far: sizes run in order
        "stages": {**out["stage_seconds"], "report (segml report)": report_s},
        "steps": out.get("step_seconds", {}),
        "memory": out.get("stage_memory_mb", {}),
        "active": out["metrics"].get("customers.active_at_as_of"),
        "transactions": out["metrics"].get("rows.transactions"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[2000, 5000])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cache", type=Path, default=CACHE, help="synthetic banks (reused)")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    sizes = sorted(set(args.customers))
    runs = []
    with tempfile.TemporaryDirectory(prefix="segml-bench-pipeline-") as tmp:
        for n in sizes:
            print(f"[bench_pipeline] segml run on {n:,} customers", file=sys.stderr, flush=True)
            runs.append(run_once(n, args.seed, args.cache, Path(tmp)))
    rows = []
    first = runs[0]
    for i, r in enumerate(runs):
        prev = runs[i - 1] if i else None
        for stage, secs in [*r["stages"].items(), ("total", r["wall_s"])]:
            base = first["stages"].get(stage, first["wall_s"]) if stage != "total" else first["wall_s"]  # fmt: skip
            row = {
                "customers": r["customers"],
                "transactions": r["transactions"],
                "stage": stage,
                "seconds": round(secs, 2),
                "baseline": f"same stage at {first['customers']:,}",
                "ratio_to_smallest": round(secs / base, 2) if base else None,
                "exponent_vs_previous": None,
                "peak_rss_mb": round(r["peak_rss_mb"]) if stage == "total" else None,
            }
            if prev is not None:
                p = prev["stages"].get(stage) if stage != "total" else prev["wall_s"]
                if p and secs > 0:
                    row["exponent_vs_previous"] = round(
                        math.log(secs / p) / math.log(r["customers"] / prev["customers"]), 2
                    )
            rows.append(row)
    steps = [
        {"customers": r["customers"], "stage": stage, "step": name, "seconds": secs,
         "peak_mb": r["memory"].get(stage, {}).get("steps", {}).get(name)}
        for r in runs for stage, named in r["steps"].items() for name, secs in named.items()
    ]  # fmt: skip
    write_results("pipeline_steps", steps, args.results)
    memory = [
        {"customers": r["customers"], "stage": stage, **{k: v for k, v in mem.items() if k != "steps"}}
        for r in runs for stage, mem in r["memory"].items()
    ]  # fmt: skip
    if memory:
        write_results("pipeline_memory", memory, args.results)
    print(write_results("pipeline", rows, args.results))


if __name__ == "__main__":
    main()
