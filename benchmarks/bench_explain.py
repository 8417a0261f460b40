"""Benchmark segml.explain: exact reason codes for many customers, against shap.TreeExplainer.

The value score model (:class:`segml.value.ValueScoreModel`) is trained out of time on the
synthetic bank: features of the customers active at 2023-12-31, target ``holdout_profit`` of the
next 12 months. The population explained is the customers active at 2024-12-31, tiled to
``--rows`` customers (fresh unique ``customer_id`` values, numeric non-0/1 columns multiplied by
``1 + jitter * N(0, 1)``, seeded, so no two rows are equal; counts stay integers, shares stay in
[0, 1]) and cached as Parquet in ``--cache`` by bank, rows and seed. Every measured part runs in a
fresh process, so its time and peak RSS (``ru_maxrss``) are its own; all read the same saved
model (``ValueScoreModel.save`` / ``load``) and the same rows.

Parts (``--parts``, default all three):

* **tradeoff** — ``select_value_model`` on the training customers (``--depths``): its candidate
  table (trees, leaves, TreeSHAP cost proxy, validation MAE/RMSE/Spearman/tier agreement,
  chosen), plus, for each candidate refitted on the same 75 % fitting split: the measured
  TreeSHAP time (``Booster.predict(pred_contribs=True)`` on ``--tradeoff-rows`` tiled rows,
  ``--threads`` threads) and out-of-time test metrics on the 2024-12-31 population against its
  own next-12-month ``holdout_profit``; the naive baseline ``profit_12m`` (last year's profit) is
  the last row.
* **reasons** — for each ``--rows``: load the model and table, stream
  ``model.iter_explain(X, batch_size=--batch-size)``, ``reason_codes(explanation, X, k=4)`` per
  batch, and write the codes batch by batch to Parquet (``pyarrow.parquet.ParquetWriter``).
  ``--input frame`` reads the whole table (only the model's columns) then streams it;
  ``--input parquet`` also streams the input, one Parquet record batch of ``--batch-size`` rows
  at a time, so memory does not grow with the rows. ``total_s`` = contributions (incl. the
  additivity check) + reason codes + write; ``read_s`` (Parquet to pandas) is reported apart.
  ``--engines`` repeats it with the phrases written by Python (``python``: the definition, the
  baseline of ``reasons_ratio``) and by DuckDB (``auto`` takes DuckDB for these batch sizes).
* **baseline** — ``shap.TreeExplainer(model.booster).shap_values(...)`` on the first
  ``--baseline-rows`` rows of the same table and the same model: the tree matrix
  ``model.trees_._matrix(X, fitting=False)``, then ``TreeExplainer`` construction,
  ``xgboost.DMatrix(matrix, enable_categorical=True)`` and ``shap_values`` (shap's default
  ``check_additivity=True``) are all timed (``baseline_s``). shap cannot take the pandas frame
  itself: for an xgboost ``Booster`` it builds ``xgboost.DMatrix(X)`` without
  ``enable_categorical`` and fails on the categorical columns, so the DMatrix is passed. When
  fewer rows are measured than explained, the per-row part is extrapolated linearly
  (``baseline_measured_rows`` < ``rows``, ``baseline_extrapolated`` true). Ratios:
  ``ratio_contrib`` = baseline_s / segml ``contrib_s``, ``ratio_end_to_end`` = baseline_s /
  segml ``total_s`` (the baseline gives contributions only: no reason codes, nothing written).

The model explained is the one ``select_value_model`` chooses (refitted on all training
customers), or ``--max-depth``'s. Results: ``explain`` (main table) and ``explain_tradeoff`` in
``--results``, as JSON and Markdown. The bank is data/raw/synthetic/bank_n20000_seed42_17e20daea2
when present (``--bank``); otherwise a 20,000-customer bank (``--customers``, ``--bank-seed``) is
generated with ``segml.synth.generate`` into ``--cache``. The reason codes written go to
``--cache`` too (``explain_reasons_n<rows>_<input>.parquet``).

    python benchmarks/bench_explain.py                                  # 20k rows, a few minutes
    python benchmarks/bench_explain.py --rows 20000 --baseline-rows 5000 --results /tmp/explain
    python benchmarks/bench_explain.py --rows 100000 1000000 --baseline-rows 100000
    python benchmarks/bench_explain.py --parts reasons --rows 1000000 --input parquet
    python benchmarks/bench_explain.py --device cuda --threads 16       # on a GPU machine
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from common import child, write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = ROOT / "data" / "interim" / "bench"
BANK = ROOT / "data" / "raw" / "synthetic" / "bank_n20000_seed42_17e20daea2"
TRAIN_DATE, TEST_DATE, HORIZON = "2023-12-31", "2024-12-31", 12
TARGET = "holdout_profit"

# Features of the active customers at a date joined with their next-window profit.
CHILD_PREPARE = """
import json, sys, warnings, datetime as dt
warnings.simplefilter("ignore")
from segml.data import load_bank
from segml.features import build_features
from segml.features.labels import build_labels
cfg = json.loads(sys.argv[1])
bank = load_bank(cfg["bank"], reference_date="2030-01-01")
out = {}
for key, date in (("train", cfg["train_date"]), ("test", cfg["test_date"])):
    as_of = dt.date.fromisoformat(date)
    f = build_features(bank, as_of).to_pandas()
    f = f[f["is_active"] == 1]
    lab = build_labels(bank, as_of, cfg["horizon"]).to_pandas()[["customer_id", cfg["target"]]]
    d = f.merge(lab, on="customer_id", how="inner", validate="one_to_one")
    d.reset_index(drop=True).to_parquet(cfg[key], index=False)
    out[key] = {"active": len(f), "labelled": len(d)}
print(json.dumps(out))
"""

# The population tiled to n rows with fresh ids and a seeded multiplicative jitter.
CHILD_TILE = """
import json, os, sys
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["bench"])
from common import tile_frame
base = pd.read_parquet(cfg["src"]).drop(columns=[cfg["target"]])
frame = tile_frame(base, cfg["rows"], cfg["seed"], cfg["jitter"])
tmp = cfg["dst"] + ".tmp"
pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp, row_group_size=100_000)
os.replace(tmp, cfg["dst"])
print(json.dumps({"rows": len(frame), "columns": frame.shape[1]}))
"""

# Fit the model explained (the depth given, or the one select_value_model chooses) and save it.
CHILD_MODEL = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from segml.explain import treeshap_cost
from segml.value import ValueScoreModel
from segml.value.selection import select_value_model
cfg = json.loads(sys.argv[1])
X = pd.read_parquet(cfg["train"])
y = X.pop(cfg["target"]).to_numpy(dtype=float)
params = {"n_jobs": cfg["threads"], "device": cfg["device"], "learning_rate": cfg["learning_rate"]}
depth, how = cfg["depth"], cfg["how"]
if depth is None:
    sel = select_value_model(X, y, depths=tuple(cfg["depths"]), seed=cfg["seed"], **params)
    depth, how = sel.params["max_depth"], "chosen by select_value_model"
t = time.perf_counter()
model = ValueScoreModel(max_depth=depth, seed=cfg["seed"], **params).fit(X, y)
fit_s = time.perf_counter() - t
model.save(cfg["model"])
size = treeshap_cost(model.booster)
print(json.dumps({**size, "max_depth": int(depth), "how": how, "fit_s": fit_s,
                  "train_rows": len(y), "features": len(model.feature_names_)}))
"""

CHILD_TRADEOFF = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd, xgboost as xgb
from segml.explain import treeshap_cost
from segml.value import ValueScoreModel
from segml.value.selection import select_value_model, value_metrics
cfg = json.loads(sys.argv[1])
X = pd.read_parquet(cfg["train"])
y = X.pop(cfg["target"]).to_numpy(dtype=float)
test = pd.read_parquet(cfg["test"])
y_test = test.pop(cfg["target"]).to_numpy(dtype=float)
sample = pd.read_parquet(cfg["sample"])
params = {"n_jobs": cfg["threads"], "device": cfg["device"], "learning_rate": cfg["learning_rate"]}
t = time.perf_counter()
sel = select_value_model(X, y, depths=tuple(cfg["depths"]), seed=cfg["seed"], **params)
select_s = time.perf_counter() - t
# the fitting/validation split of select_value_model (default validation_share 0.25)
n = len(y)
val = np.zeros(n, dtype=bool)
rng = np.random.default_rng(cfg["seed"])
val[rng.choice(n, size=max(10, int(round(0.25 * n))), replace=False)] = True
rows = []
for _, c in sel.candidates.iterrows():
    depth = int(c["max_depth"])
    t = time.perf_counter()
    m = ValueScoreModel(max_depth=depth, seed=cfg["seed"], **params).fit(X[~val], y[~val])
    fit_s = time.perf_counter() - t
    size = treeshap_cost(m.booster)
    booster = m.booster
    booster.set_param({"nthread": cfg["threads"], "device": cfg["device"]})
    d = xgb.DMatrix(m.trees_._matrix(sample, fitting=False), enable_categorical=True)
    booster.predict(d.slice(list(range(min(1000, len(sample))))), pred_contribs=True)  # warm-up
    t = time.perf_counter()
    booster.predict(d, pred_contribs=True)
    shap_s = time.perf_counter() - t
    test_m = value_metrics(y_test, m.predict(test))
    rows.append({
        "candidate": f"depth {depth}", "max_depth": depth, "trees": int(c["trees"]),
        "leaves": int(c["leaves"]), "cost_proxy": c["cost"], "cost_ratio": c["cost_ratio"],
        "val_mae": c["mae"], "val_rmse": c["rmse"], "val_spearman": c["spearman"],
        "val_tier_agreement": c["tier_agreement"], "within_tolerance": bool(c["within_tolerance"]),
        "chosen": bool(c["chosen"]), "fit_s": fit_s,
        "treeshap_us_per_row": shap_s / len(sample) * 1e6,
        "ns_per_cost_unit": shap_s / len(sample) * 1e9 / max(size["cost"], 1.0),
        "test_mae": test_m["mae"], "test_rmse": test_m["rmse"],
        "test_spearman": test_m["spearman"], "test_tier_agreement": test_m["tier_agreement"],
        "refit_matches": size["trees"] == c["trees"] and size["leaves"] == c["leaves"],
    })
naive = lambda frame: frame["profit_12m"].fillna(0.0).to_numpy(dtype=float)
val_m = value_metrics(y[val], naive(X[val]))
test_m = value_metrics(y_test, naive(test))
rows.append({
    "candidate": "naive profit_12m", "max_depth": None, "trees": 0, "leaves": 0,
    "cost_proxy": 0.0, "cost_ratio": None, "val_mae": val_m["mae"], "val_rmse": val_m["rmse"],
    "val_spearman": val_m["spearman"], "val_tier_agreement": val_m["tier_agreement"],
    "within_tolerance": None, "chosen": False, "fit_s": 0.0, "treeshap_us_per_row": None,
    "ns_per_cost_unit": None, "test_mae": test_m["mae"], "test_rmse": test_m["rmse"],
    "test_spearman": test_m["spearman"], "test_tier_agreement": test_m["tier_agreement"],
    "refit_matches": None,
})
print(json.dumps({"rows": rows, "select_s": select_s, "chosen_depth": sel.params["max_depth"],
                  "n_fit": sel.n_fit, "n_validation": sel.n_validation, "n_test": len(y_test),
                  "sample_rows": len(sample)}))
"""

CHILD_REASONS = """
import json, os, resource, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq
from segml.value import ValueScoreModel
from segml.explain.reasons import reason_codes
cfg = json.loads(sys.argv[1])
clock = time.perf_counter
t_start = clock()
model = ValueScoreModel.load(cfg["model"])
model.booster.set_param({"nthread": cfg["threads"], "device": cfg["device"]})
cols = ["customer_id", *model.feature_names_]
spent = dict.fromkeys(("read", "contrib", "reasons", "write"), 0.0)

def frames():
    if cfg["input"] == "frame":
        t = clock()
        X = pd.read_parquet(cfg["table"], columns=cols)
        spent["read"] += clock() - t
        yield X
        return
    batches = pq.ParquetFile(cfg["table"]).iter_batches(batch_size=cfg["batch"], columns=cols)
    while True:
        t = clock()
        rb = next(batches, None)
        X = None if rb is None else pa.Table.from_batches([rb]).to_pandas()
        spent["read"] += clock() - t
        if X is None:
            return
        yield X

writer = schema = report = None
n = 0
for X in frames():
    explanations = model.iter_explain(X, batch_size=cfg["batch"])
    start = 0
    while True:
        t = clock()
        exp = next(explanations, None)
        spent["contrib"] += clock() - t
        if exp is None:
            break
        part = X.iloc[start:start + len(exp)]
        start += len(exp)
        t = clock()
        codes = reason_codes(exp, part, k=cfg["k"], engine=cfg["engine"])
        spent["reasons"] += clock() - t
        t = clock()
        if writer is None:
            schema = pa.schema([(c, pa.float64() if c.endswith("_impact") else pa.string())
                                for c in codes.columns])
            writer = pq.ParquetWriter(cfg["out"], schema)
        writer.write_table(pa.Table.from_pandas(codes, schema=schema, preserve_index=False))
        spent["write"] += clock() - t
        report = exp.additivity if report is None else report.merge(exp.additivity)
        n += len(exp)
        del exp, codes, part
    del X, explanations
t = clock()
writer.close()
spent["write"] += clock() - t
wall = clock() - t_start
print(json.dumps({
    "rows": n, "written_rows": pq.ParquetFile(cfg["out"]).metadata.num_rows,
    "out_mb": os.path.getsize(cfg["out"]) / 2**20, **{f"{k}_s": v for k, v in spent.items()},
    "wall_s": wall, "max_additivity_error": report.max_abs_error,
    "additivity_scale": report.scale, "additivity_passed": report.passed,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""

CHILD_BASELINE = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq, shap, xgboost as xgb
from segml.value import ValueScoreModel
cfg = json.loads(sys.argv[1])
clock = time.perf_counter
model = ValueScoreModel.load(cfg["model"])
booster = model.booster
booster.set_param({"nthread": cfg["threads"], "device": cfg["device"]})
cols = ["customer_id", *model.feature_names_]
m, parts, got = cfg["rows"], [], 0
t = clock()
for rb in pq.ParquetFile(cfg["table"]).iter_batches(batch_size=min(m, 100_000), columns=cols):
    parts.append(rb.slice(0, m - got))
    got += parts[-1].num_rows
    if got >= m:
        break
X = pa.Table.from_batches(parts).to_pandas()
read_s = clock() - t
t0 = clock()
matrix = model.trees_._matrix(X, fitting=False)
t1 = clock()
explainer = shap.TreeExplainer(booster)
t2 = clock()
d = xgb.DMatrix(matrix, enable_categorical=True)
t3 = clock()
values = explainer.shap_values(d)
t4 = clock()
print(json.dumps({
    "rows": len(X), "read_s": read_s, "matrix_s": t1 - t0, "explainer_s": t2 - t1,
    "dmatrix_s": t3 - t2, "shap_values_s": t4 - t3, "total_s": t4 - t0,
    "shape": list(values.shape),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _r(v: object) -> object:
    """Floats to 4 significant digits for the tables."""
    if isinstance(v, float):
        return float(f"{v:.4g}")
    return v


def _bank(args: argparse.Namespace) -> Path:
    """The bank folder: ``--bank`` if it is there, else one generated into ``--cache``."""
    from segml.synth import MANIFEST, SynthConfig, generate

    if (args.bank / MANIFEST).is_file():
        return args.bank
    out = args.cache / f"explain_bank_n{args.customers}_seed{args.bank_seed}"
    if not (out / MANIFEST).is_file():
        _say(f"generating a {args.customers:,}-customer bank into {out}")
        generate(SynthConfig(customers=args.customers, seed=args.bank_seed), out, overwrite=out.exists())  # fmt: skip
    return out


def _tile(args: argparse.Namespace, bank: Path, test: Path, rows: int) -> Path:
    """The 2024-12-31 population tiled to ``rows`` rows (cached by bank, rows, seed, jitter)."""
    path = args.cache / f"explain_population_{bank.name}_n{rows}_seed{args.tile_seed}_j{args.jitter:g}.parquet"  # fmt: skip
    if not path.is_file():
        _say(f"tiling the population to {rows:,} rows: {path}")
        cfg = {"src": str(test), "dst": str(path), "rows": rows, "seed": args.tile_seed,
               "jitter": args.jitter, "target": TARGET, "bench": str(HERE)}  # fmt: skip
        child(CHILD_TILE, json.dumps(cfg))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[20_000], help="customers to explain")
    ap.add_argument("--parts", nargs="+", choices=("tradeoff", "reasons", "baseline"), default=["tradeoff", "reasons", "baseline"])  # fmt: skip
    ap.add_argument("--input", nargs="+", choices=("frame", "parquet"), default=["frame", "parquet"], help="reasons: whole table in memory, or streamed from Parquet")  # fmt: skip
    ap.add_argument("--batch-size", type=int, default=100_000)
    ap.add_argument("--baseline-rows", type=int, default=None, help="cap on the rows shap explains (default: all); the rest is extrapolated")  # fmt: skip
    ap.add_argument("--depths", type=int, nargs="+", default=[2, 3, 4, 6, 8])
    ap.add_argument("--max-depth", type=int, default=None, help="explain this depth instead of the one selected")  # fmt: skip
    ap.add_argument("--learning-rate", type=float, default=0.1)
    ap.add_argument("--tradeoff-rows", type=int, default=20_000, help="rows timed per candidate")
    ap.add_argument("--k", type=int, default=4, help="reason codes per customer")
    ap.add_argument("--engines", nargs="+", choices=("auto", "python", "duckdb"), default=["python", "auto"], help="reasons: who writes the phrases (python: the definition, the baseline of reasons_ratio)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--seed", type=int, default=0, help="model and selection seed")
    ap.add_argument("--tile-seed", type=int, default=1)
    ap.add_argument("--jitter", type=float, default=0.05)
    ap.add_argument("--bank", type=Path, default=BANK)
    ap.add_argument("--customers", type=int, default=20_000, help="bank size if one is generated")
    ap.add_argument("--bank-seed", type=int, default=42)
    ap.add_argument("--cache", type=Path, default=CACHE, help="tiled tables, model, reason codes")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    bank = _bank(args)
    train = args.cache / f"explain_{bank.name}_train_{TRAIN_DATE}.parquet"
    test = args.cache / f"explain_{bank.name}_test_{TEST_DATE}.parquet"
    if not (train.is_file() and test.is_file()):
        _say(f"features and labels of {bank}")
        cfg = {"bank": str(bank), "train": str(train), "test": str(test), "target": TARGET,
               "train_date": TRAIN_DATE, "test_date": TEST_DATE, "horizon": HORIZON}  # fmt: skip
        child(CHILD_PREPARE, json.dumps(cfg))
    common = {"train": str(train), "target": TARGET, "seed": args.seed, "threads": args.threads,
              "device": args.device, "learning_rate": args.learning_rate, "depths": args.depths}  # fmt: skip

    chosen = None
    if "tradeoff" in args.parts:
        sample = _tile(args, bank, test, args.tradeoff_rows)
        _say(f"tradeoff: depths {args.depths}, TreeSHAP timed on {args.tradeoff_rows:,} rows")
        out = child(CHILD_TRADEOFF, json.dumps(common | {"test": str(test), "sample": str(sample)}))
        chosen = out["chosen_depth"]
        rows = [
            {k: _r(v) for k, v in r.items()}
            | {
                "n_fit": out["n_fit"],
                "n_validation": out["n_validation"],
                "n_test": out["n_test"],
                "select_s": _r(out["select_s"]),
                "threads": args.threads,
                "device": args.device,
            }
            for r in out["rows"]
        ]
        print(write_results("explain_tradeoff", rows, args.results))

    if not {"reasons", "baseline"} & set(args.parts):
        return
    depth = args.max_depth if args.max_depth is not None else chosen
    model_path = args.cache / f"explain_model_{bank.name}.json"
    how = "--max-depth" if args.max_depth is not None else "chosen by the tradeoff part"
    _say(f"fitting the model explained (max_depth {depth or 'to select'})")
    model = child(CHILD_MODEL, json.dumps(common | {"model": str(model_path), "depth": depth, "how": how}))  # fmt: skip
    described = {
        "max_depth": model["max_depth"],
        "trees": int(model["trees"]),
        "leaves": int(model["leaves"]),
        "features": model["features"],
        "model": model["how"],
    }
    _say(f"model: {described}")

    table_rows = []
    for n in args.rows:
        table = _tile(args, bank, test, n)
        spec = {"model": str(model_path), "table": str(table), "threads": args.threads,
                "device": args.device}  # fmt: skip
        base: dict[str, object] = {}
        if "baseline" in args.parts:
            m = min(n, args.baseline_rows or n)
            _say(f"baseline: shap.TreeExplainer on {m:,} of {n:,} rows")
            b = child(CHILD_BASELINE, json.dumps(spec | {"rows": m}))
            per_row = b["total_s"] - b["explainer_s"]  # all but the constructor grows with rows
            secs = b["explainer_s"] + per_row * n / b["rows"]
            base = {
                "baseline": "shap.TreeExplainer(booster).shap_values(DMatrix)",
                "baseline_s": secs,
                "baseline_shap_values_s": b["shap_values_s"],
                "baseline_measured_rows": b["rows"],
                "baseline_extrapolated": b["rows"] < n,
                "baseline_peak_rss_mb": b["peak_rss_mb"],
            }
        if "reasons" not in args.parts:
            table_rows.append({"rows": n} | described | base)
            continue
        for mode, engine in itertools.product(args.input, args.engines):
            _say(
                f"reasons: {n:,} rows, input {mode}, phrases by {engine}, batches of {args.batch_size:,}"
            )
            out = args.cache / f"explain_reasons_n{n}_{mode}.parquet"
            r = child(CHILD_REASONS, json.dumps(spec | {"input": mode, "batch": args.batch_size, "k": args.k, "out": str(out), "engine": engine}))  # fmt: skip
            if r["written_rows"] != n:
                raise RuntimeError(f"{r['written_rows']} reason rows written for {n} customers")
            total = r["contrib_s"] + r["reasons_s"] + r["write_s"]
            row = {
                "rows": n,
                "input": mode,
                "engine": engine,
                "batch_size": args.batch_size,
            } | described
            row |= {
                "threads": args.threads,
                "device": args.device,
                "read_s": r["read_s"],
                "contrib_s": r["contrib_s"],
                "reasons_s": r["reasons_s"],
                "write_s": r["write_s"],
                "total_s": total,
                "wall_s": r["wall_s"],
                "rows_per_s": n / total,
                "projected_1m_s": total * 1e6 / n,
                "peak_rss_mb": r["peak_rss_mb"],
                "max_additivity_error": r["max_additivity_error"],
                "additivity_scale": r["additivity_scale"],
                "reasons_mb": r["out_mb"],
            }
            if base:
                row |= base | {
                    "ratio_contrib": base["baseline_s"] / r["contrib_s"],
                    "ratio_end_to_end": base["baseline_s"] / total,
                }
            py = [x for x in table_rows if (x["rows"], x["input"], x.get("engine")) == (n, mode, "python")]  # fmt: skip
            if py:
                row["reasons_ratio"] = py[0]["reasons_s"] / r["reasons_s"]
            table_rows.append(row)
    rounded = [{k: _r(v) for k, v in r.items()} for r in table_rows]
    print(write_results("explain", rounded, args.results))


if __name__ == "__main__":
    main()
