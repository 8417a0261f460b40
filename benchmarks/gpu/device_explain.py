"""GPU check for #6 and #9: exact reason codes and model fits on CUDA vs the CPU, same run.

Two subcommands:

``prepare`` (here, with segml installed) writes the inputs the device needs into one folder:
the value score model the explain benchmark uses (``model.json``), its population of 20,000
customers (``population.parquet``, only the model's columns), and two training tables from
the same synthetic bank at 2023-12-31 (``value_train.parquet`` with ``holdout_profit``,
``churn_train.parquet`` with ``churned``).

``run`` (on the device, or here with ``--devices cpu`` as a smoke test) measures, for each
device and each ``--rows``:

* **reason codes end to end** — the population tiled to ``rows`` customers (fresh ids, a 5%
  seeded multiplicative jitter on numeric non-0/1 columns, like ``bench_explain.py``), then
  ``ValueScoreModel.iter_explain`` in batches (xgboost's TreeSHAP incl. the additivity check on
  every batch) and ``reason_codes(k=4)`` per batch: ``contrib_s``, ``reasons_s``, ``total_s``
  and ``total_s_per_1m``; the largest additivity error;
* **model fits** — the value model (same parameters as the saved one) and the churn model
  (``ChurnModel`` defaults, early stopping) on ``--train-rows`` tiled training rows (the
  default ``compute.max_train_rows`` is 150,000): ``fit_s`` per model.

The baseline of every ratio is the CPU in the same run (all cores: ``--cpu-rows`` caps the CPU
rows, the larger sizes are reported for CUDA only). Results: ``gpu.json`` and ``gpu.md`` in
``--out``. See benchmarks/gpu/README.md for the two device calls.

    python benchmarks/gpu/device_explain.py prepare --out data/interim/gpu/rest/inputs
    python benchmarks/gpu/device_explain.py run --inputs data/interim/gpu/rest/inputs \\
        --devices cpu --rows 20000 --cpu-rows 20000 --train-rows 20000 --out /tmp/gpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the benchmarks' shared helpers and bench_explain's paths
from bench_explain import BANK, CACHE, TRAIN_DATE  # noqa: E402
from common import tile_frame  # noqa: E402

MODEL = CACHE / f"explain_model_{BANK.name}.json"
POPULATION = CACHE / f"explain_population_{BANK.name}_n20000_seed1_j0.05.parquet"


# ---------------------------------------------------------------------------- prepare (here)
def prepare(out: Path) -> None:
    """Write model.json, population.parquet, value_train.parquet and churn_train.parquet."""
    from segml.data import load_bank
    from segml.features import build_features
    from segml.features.labels import build_labels
    from segml.value import ValueScoreModel

    for need in (MODEL, POPULATION, BANK):
        if not need.exists():
            sys.exit(f"{need} not found: run `python benchmarks/bench_explain.py` first")
    out.mkdir(parents=True, exist_ok=True)
    model = ValueScoreModel.load(MODEL)
    model.save(out / "model.json")
    cols = ["customer_id", *[c for c in model.feature_names_ if c != "customer_id"]]
    pd.read_parquet(POPULATION, columns=cols).to_parquet(out / "population.parquet")
    bank = load_bank(BANK)
    feats = build_features(bank, TRAIN_DATE).to_pandas()
    labels = build_labels(bank, TRAIN_DATE, 12).to_pandas()
    train = feats.merge(labels[["customer_id", "churned", "holdout_profit"]], on="customer_id")
    train.drop(columns="churned").to_parquet(out / "value_train.parquet")
    train.drop(columns="holdout_profit").to_parquet(out / "churn_train.parquet")
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(json.dumps({"out": str(out), "bytes": sizes}, indent=1))


# ---------------------------------------------------------------------------- run (device)
def _set_device(model: Any, device: str) -> None:
    for b in model.trees_.boosters_.values():
        b.set_param({"device": device})


def reasons_run(model: Any, frame: pd.DataFrame, batch: int) -> dict[str, float]:
    from segml.explain.reasons import reason_codes

    contrib_s = reasons_s = 0.0
    worst, n = 0.0, 0
    t = time.perf_counter()
    it = model.iter_explain(frame, batch_size=batch)
    while True:
        t0 = time.perf_counter()
        try:
            ex = next(it)
        except StopIteration:
            break
        t1 = time.perf_counter()
        rc = reason_codes(ex, frame.iloc[n : n + len(ex)], k=4)
        t2 = time.perf_counter()
        contrib_s += t1 - t0
        reasons_s += t2 - t1
        worst = max(worst, float(ex.additivity.max_abs_error))
        n += len(rc)
    total = time.perf_counter() - t
    return {
        "rows": n,
        "contrib_s": round(contrib_s, 3),
        "reasons_s": round(reasons_s, 3),
        "total_s": round(total, 3),
        "total_s_per_1m": round(total * 1e6 / n, 3),
        "max_additivity_error": worst,
    }


def fit_runs(inputs: Path, device: str, rows: int) -> dict[str, float]:
    from sklearn.base import clone

    from segml.churn.model import ChurnModel
    from segml.compute import device_default
    from segml.value import ValueScoreModel

    out = {}
    value = tile_frame(pd.read_parquet(inputs / "value_train.parquet"), rows, 2, 0.05)
    real = pd.read_parquet(inputs / "churn_train.parquet")
    churn = tile_frame(real, rows, 3, 0.05)
    churn["churned"] = np.rint(churn["churned"]).astype(int)
    with device_default(device):
        t = time.perf_counter()
        unfitted = clone(ValueScoreModel.load(inputs / "model.json")).set_params(device=None)
        unfitted.fit(value.drop(columns=["customer_id", "holdout_profit"]), value["holdout_profit"])
        out["value_fit_s"] = round(time.perf_counter() - t, 3)
        # tiled rows are near-copies, so early stopping on them would not stop: the trees
        # are those early stopping picks on the real customers, then fitted on the tiled rows
        t = time.perf_counter()
        m = ChurnModel(random_state=0, exclude=("customer_id",))
        m.fit(real.drop(columns=["churned"]), real["churned"].astype(int))
        out["churn_fit_real_s"] = round(time.perf_counter() - t, 3)
        out["churn_real_rows"] = len(real)
        trees = int(m.best_iteration_) + 1
        t = time.perf_counter()
        ChurnModel(random_state=0, exclude=("customer_id",), n_estimators=trees).fit(
            churn.drop(columns=["churned"]), churn["churned"]
        )
        out["churn_fit_s"] = round(time.perf_counter() - t, 3)
        out["churn_trees"] = trees
    return out


def run(args: argparse.Namespace) -> None:
    import xgboost as xgb

    from segml.value import ValueScoreModel

    warnings.simplefilter("ignore")
    args.out.mkdir(parents=True, exist_ok=True)
    model = ValueScoreModel.load(args.inputs / "model.json")
    base = pd.read_parquet(args.inputs / "population.parquet")
    env = {
        "python": platform.python_version(),
        "xgboost": xgb.__version__,
        "cpus": os.cpu_count(),
        "trees": {k: b.num_boosted_rounds() for k, b in model.trees_.boosters_.items()},
        "features": len(model.feature_names_),
    }
    results: dict[str, object] = {"env": env, "reasons": [], "fits": []}

    def save() -> None:
        (args.out / "gpu.json").write_text(json.dumps(results, indent=1))

    frames = {}
    for n in sorted(args.rows):
        t = time.perf_counter()
        frames[n] = tile_frame(base, n, 1, 0.05)
        print(f"tiled {n:,} rows in {time.perf_counter() - t:.1f}s", flush=True)
    for device in args.devices:
        _set_device(model, device)
        for n in sorted(args.rows):
            if device == "cpu" and n > args.cpu_rows:
                continue
            batch = args.gpu_batch if device == "cuda" else args.cpu_batch
            r = {"device": device, "batch": batch, **reasons_run(model, frames[n], batch)}
            r["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            print(json.dumps(r), flush=True)
            results["reasons"].append(r)
            save()
        if args.train_rows:
            f = {"device": device, "train_rows": args.train_rows, **fit_runs(args.inputs, device, args.train_rows)}  # fmt: skip
            print(json.dumps(f), flush=True)
            results["fits"].append(f)
            save()
    cpu = {r["rows"]: r for r in results["reasons"] if r["device"] == "cpu"}
    lines = ["| device | rows | batch | contributions (s) | reason codes (s) | total (s) | s per 1M | vs CPU | max additivity error |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results["reasons"]:
        base_r = cpu.get(r["rows"])
        ratio = f"{base_r['total_s'] / r['total_s']:.1f}×" if base_r else "—"
        lines.append(f"| {r['device']} | {r['rows']:,} | {r['batch']:,} | {r['contrib_s']} | {r['reasons_s']} | {r['total_s']} | {r['total_s_per_1m']} | {ratio} | {r['max_additivity_error']:.3g} |")  # fmt: skip
    for f in results["fits"]:
        lines.append(f"\nfits on {f['device']}, {f['train_rows']:,} rows: value {f['value_fit_s']} s, churn {f['churn_fit_s']} s ({f['churn_trees']} trees; early stopping on {f['churn_real_rows']:,} real rows {f['churn_fit_real_s']} s)")  # fmt: skip
    (args.out / "gpu.md").write_text(json.dumps(env) + "\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", type=Path, default=Path("data/interim/gpu/rest/inputs"))
    r = sub.add_parser("run")
    r.add_argument("--inputs", type=Path, default=Path("data/interim/gpu/rest/inputs"))
    r.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/gpu")))
    r.add_argument("--devices", nargs="+", default=["cuda", "cpu"], choices=["cuda", "cpu"])
    r.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    r.add_argument("--cpu-rows", type=int, default=1_000_000)
    r.add_argument("--gpu-batch", type=int, default=1_000_000)
    r.add_argument("--cpu-batch", type=int, default=100_000)
    r.add_argument("--train-rows", type=int, default=150_000)
    args = ap.parse_args()
    if args.cmd == "prepare":
        prepare(args.out)
    else:
        run(args)


if __name__ == "__main__":
    main()
