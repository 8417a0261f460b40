"""Benchmark the exported tiering model: load time, batch scoring and the MLflow HTTP server.

Setup: a throwaway project in a temporary folder (``--project DIR`` reuses one, and keeps it)
whose config (``experiments/configs/bench_n<customers>.yaml``) runs the synthetic bank of
``--customers`` customers. ``segml run`` runs once there (skipped when a finished run of that
config with a registered model is found), then ``segml promote --version <its version>`` points
``segml-tiering@champion`` at that run's model. Every measurement uses
``models:/segml-tiering@champion`` from the project's registry (``MLFLOW_TRACKING_URI`` is set to
the run's tracking URI for every child process; ``MLFLOW_DISABLE_TELEMETRY=true``).

The scored table: the run's active customers (``features.parquet``, ``is_active == 1``, all
columns) tiled to ``--rows`` rows with fresh unique ``customer_id`` values (``bench-000000001``,
…; the features are repeated as they are), cached as Parquet in the project folder.

Parts (``--parts``, default all three):

* **load** — in a fresh process (median of ``--repeat`` processes): ``import mlflow``,
  ``mlflow.pyfunc.load_model(uri)`` (registry lookup, artifact download, segml's model code and
  bundle), the first ``predict`` on 1 row (the warm-up cost) and a second one on another row.
  With ``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__`` in the environment, every fresh
  process compiles the sources it imports (seconds); the rows say so when it is set.
* **batch** — the baseline, the **bare boosters**: in a fresh process, the bundle's own xgboost
  boosters (value trees, churn model, one per segment of the surrogate) called directly on the
  table's rows, their inputs encoded beforehand (float arrays, categoricals as codes, so only
  ``DMatrix`` + ``predict`` are timed; all cores): ``predict`` alone, and ``predict`` plus the
  value trees' TreeSHAP (``pred_contribs``, what the reason codes need); and one row at a time
  on one thread (median and p95 of ``--requests`` rows). MLflow's own share of a 1-row request,
  in process: parsing its ``dataframe_split`` JSON into the signature's types and enforcing the
  signature (what the server does before the model's predict). Then **in-process predict**:
  ``loaded.predict(frame)`` on the whole table already in memory (median of ``--repeat`` calls
  after a 1-row warm-up), 1-row ``predict`` calls (``--requests`` calls on distinct rows; median
  and p95), and the HTTP part's batches predicted in process (same rows, same batch size). And
  ``segml score --json`` (the CLI, as a subprocess; ``--chunk-size``, default 100,000) on the
  table: its own ``rows_per_second`` (read Parquet + predict + write Parquet, model load
  excluded) and the subprocess's wall time.
* **http** — ``mlflow models serve -m models:/segml-tiering@champion --env-manager local``
  (``--workers``, default 1: one process whose request threads share one model), started once
  and always terminated (its whole process group): time until ``/ping`` answers; the first
  request; then, for each ``--concurrency`` level (default 1 and 8), ``--http-requests`` 1-row
  requests (distinct rows, after 3 warm-up requests) posted by that many client threads at
  once, each on its own keep-alive connection: p50 and p95 latency, rows/s (requests / wall
  time), the requests not answered 200, and the answers that differ from those of the first
  level (the serial ones, byte for byte); batch throughput (``--http-batches`` requests of
  ``--http-batch-rows`` rows: total rows / total time). Payloads are ``dataframe_split`` JSON
  (NaN sent as null) built before the clock starts, so the times are the request round trip
  (server parsing, schema enforcement, predict, response JSON). The server's log goes to
  ``serve.log`` in the project folder.

Rows: ``part``, ``measure``, ``rows``, ``value``, ``unit``, ``baseline`` (the measurement the row
is compared to, if any) and ``vs_baseline`` (value / the baseline's value in the same unit:
for rows/s the fraction of the baseline's throughput, for latencies how many times slower).
Without the batch part (``--parts``), the HTTP rows have no baseline values.
Results: ``serving`` in ``--results`` (JSON and Markdown).

    python benchmarks/bench_serving.py                                   # 2,000 customers, 100k rows
    python benchmarks/bench_serving.py --customers 600 --rows 5000 --project /tmp/bench_serving
    python benchmarks/bench_serving.py --parts http --project /tmp/bench_serving --workers 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from common import child, write_results

HERE = Path(__file__).resolve().parent
NAME = "segml-tiering"
URI = f"models:/{NAME}@champion"
IN_PROCESS = "in-process predict"
IN_PROCESS_1 = "in-process predict, 1 row"
BARE = "bare boosters: predict"
BARE_SHAP = "bare boosters: predict + value TreeSHAP"
BARE_SHAP_1 = f"{BARE_SHAP}, 1 row"
MLFLOW_1 = "MLflow's share of a 1-row request: parse the JSON, enforce the signature"

CHILD_LOAD = """
import json, sys, time
t = time.perf_counter()
import mlflow
import pyarrow.parquet as pq
imp = time.perf_counter() - t
rows = next(pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=2)).to_pandas()
t = time.perf_counter()
m = mlflow.pyfunc.load_model(sys.argv[1])
load = time.perf_counter() - t
t = time.perf_counter()
m.predict(rows.iloc[[0]])
first = time.perf_counter() - t
t = time.perf_counter()
m.predict(rows.iloc[[1]])
second = time.perf_counter() - t
print(json.dumps({"import": imp, "load": load, "first": first, "second": second}))
"""

CHILD_PREDICT = """
import json, statistics, sys, time
import mlflow, numpy as np, pandas as pd, xgboost as xgb
from segml.compute import n_threads
from segml.explain.result import numeric_data
uri, path = sys.argv[1], sys.argv[2]
repeat, requests, batches, k = (int(a) for a in sys.argv[3:7])
m = mlflow.pyfunc.load_model(uri)
frame = pd.read_parquet(path)
m.predict(frame.iloc[[0]])  # warm-up
lat = []
for i in range(requests):
    row = frame.iloc[[i % len(frame)]]
    t = time.perf_counter()
    m.predict(row)
    lat.append(time.perf_counter() - t)
secs = []
for _ in range(repeat):
    t = time.perf_counter()
    out = m.predict(frame)
    secs.append(time.perf_counter() - t)
    assert len(out) == len(frame)
t = time.perf_counter()
for j in range(batches):  # the HTTP part's batches, in process
    m.predict(frame.iloc[np.arange(j * k, (j + 1) * k) % len(frame)])
batch_secs = time.perf_counter() - t
# the bare boosters: the bundle's xgboost boosters called directly on the same rows, their
# inputs encoded before the clock starts (as float arrays, categoricals as codes)
b = m.unwrap_python_model().bundle
def copies(booster, it=None):
    out = []
    for nt in (n_threads(), 1):  # all cores for the whole table, one thread for one row
        c = booster.copy()
        c.set_param({"nthread": nt})
        out.append((c, it))
    return out
def encoded(rows):
    df = b.schema.check(rows)
    parts = [(b.value_model.trees_._matrix(df, fitting=False), copies(b.value_model.booster), True)]
    if b.churn_model is not None:
        it = (0, b.churn_model.best_iteration_ + 1)
        parts.append((b.churn_model.encoder_.transform(df), copies(b.churn_model.booster_, it), False))
    if b.surrogate is not None:
        sur = [c for s in b.surrogate.boosters for c in copies(s)]
        parts.append((b.surrogate.matrix(df), sur, False))
    out = []
    for mat, boosters, shap in parts:
        ft = ["c" if isinstance(mat[c].dtype, pd.CategoricalDtype) else "q" for c in mat.columns]
        out.append((numeric_data(mat), list(mat.columns), ft, boosters, shap))
    return out
def bare(parts, single, contribs):
    for arr, names, ft, boosters, shap in parts:
        d = xgb.DMatrix(arr, feature_names=names, feature_types=ft, enable_categorical=True,
                        nthread=1 if single else n_threads())
        for bo, it in boosters[int(single)::2]:
            kw = {} if it is None else {"iteration_range": it}
            bo.predict(d, output_margin=True, **kw)
            if shap and contribs:
                bo.predict(d, pred_contribs=True, **kw)
whole = encoded(frame)
res = {}
for contribs in (False, True):
    bare(whole, False, contribs)  # warm-up
    s = []
    for _ in range(repeat):
        t = time.perf_counter()
        bare(whole, False, contribs)
        s.append(time.perf_counter() - t)
    one = [encoded(frame.iloc[[i % len(frame)]]) for i in range(requests)]
    l1 = []
    for parts in one:
        t = time.perf_counter()
        bare(parts, True, contribs)
        l1.append(time.perf_counter() - t)
    res[contribs] = (statistics.median(s), float(np.median(l1)), float(np.percentile(l1, 95)))
# MLflow's own share of a 1-row request, in process: parsing its JSON into a frame of the
# signature's types, then enforcing the signature (what the server does before predict)
from mlflow.models.utils import _enforce_schema
from mlflow.pyfunc.scoring_server import _parse_json_data
schema = m.metadata.get_input_schema()
share = []
for i in range(requests):
    row = frame.iloc[[i % len(frame)]]
    body = json.dumps({"dataframe_split": {"columns": list(row.columns),
                       "data": row.astype(object).where(row.notna(), None).values.tolist()}})
    t = time.perf_counter()
    _enforce_schema(_parse_json_data(body, m.metadata, schema).data, schema)
    share.append(time.perf_counter() - t)
print(json.dumps({"rows": len(frame), "seconds": statistics.median(secs), "batch_secs": batch_secs,
                  "lat_median": float(np.median(lat)), "lat_p95": float(np.percentile(lat, 95)),
                  "bare": res[False], "bare_shap": res[True], "mlflow_1": float(np.median(share))}))
"""


def _say(text: str) -> None:
    print(f"[bench_serving] {text}", file=sys.stderr, flush=True)


def _env(tracking_uri: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # `mlflow models serve` execs `uvicorn` from PATH: this interpreter's
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def _segml(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "segml", *args], capture_output=True, text=True, env=env
    )


def _config(root: Path, customers: int, seed: int) -> Path:
    path = root / "experiments" / "configs" / f"bench_n{customers}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        cfg = {
            "name": f"bench-n{customers}",
            "seed": seed,
            "synthetic": {"customers": customers, "chunk_size": min(customers, 20_000)},
            "tracking": {"experiment": "segml-bench-serving"},
        }
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _setup(root: Path, customers: int, seed: int) -> tuple[Path, dict]:
    """Run (or reuse) the project's run and promote its model; return config and run.json."""
    cfg = _config(root, customers, seed)
    done = sorted(
        (root / "data" / "processed" / "runs").glob(f"bench-n{customers}-*/run.json"),
        key=lambda p: p.stat().st_mtime,
    )
    run = None
    for path in reversed(done):
        doc = json.loads(path.read_text())
        if doc.get("status") == "FINISHED" and (doc.get("model") or {}).get("version"):
            run = doc
            break
    if run is not None:
        _say(f"reusing run {run['run_id']} ({run['output_dir']})")
    else:
        _say(f"segml run --config {cfg} ({customers:,} customers)")
        t = time.perf_counter()
        r = _segml("run", "--config", str(cfg), "--json", env=_env(None))
        if r.returncode != 0:
            raise RuntimeError(f"segml run failed:\n{r.stderr}")
        run = json.loads(r.stdout)
        _say(f"segml run took {time.perf_counter() - t:.0f} s")
    version = str(run["model"]["version"])
    r = _segml(
        "promote",
        "--config",
        str(cfg),
        "--version",
        version,
        "--json",
        env=_env(run["tracking_uri"]),
    )
    if r.returncode != 0:
        raise RuntimeError(f"segml promote failed:\n{r.stderr}")
    _say(f"{NAME}@champion -> version {version}")
    return cfg, run


def _table(root: Path, run: dict, rows: int) -> Path:
    """The run's active customers tiled to ``rows`` rows with fresh ids (cached)."""
    path = root / f"bench_serving_{run['run_id'][:12]}_n{rows}.parquet"
    if not path.exists():
        f = pd.read_parquet(Path(run["output_dir"]) / "features.parquet")
        f = f[f.is_active == 1].reset_index(drop=True)
        out = f.iloc[np.arange(rows) % len(f)].reset_index(drop=True)
        out["customer_id"] = [f"bench-{i:09d}" for i in range(1, rows + 1)]
        out.to_parquet(path, index=False)
        _say(f"tiled {len(f):,} active customers to {rows:,} rows -> {path}")
    return path


def _row(
    part: str,
    measure: str,
    rows: int | None,
    value: float,
    unit: str,
    baseline: str = "",
    base: float | None = None,
) -> dict:
    ratio = round(value / base, 3) if base else None
    baseline = baseline if ratio is not None else ""
    value = round(value, 1 if unit == "rows/s" else 2 if unit == "ms" else 3)
    return {
        "part": part,
        "measure": measure,
        "rows": rows,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "vs_baseline": ratio,
    }


def _load(args: argparse.Namespace, table: Path) -> list[dict]:
    runs = []
    for i in range(args.repeat):
        runs.append(child(CHILD_LOAD, URI, table))
        _say(f"load {i + 1}/{args.repeat}: {runs[-1]}")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    note = f"median of {args.repeat} fresh processes"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):  # every import compiles its source again
        note += ", PYTHONDONTWRITEBYTECODE set"
    return [
        _row("load", f"import mlflow ({note})", None, med["import"], "s"),
        _row("load", f"load_model({URI}) ({note})", None, med["load"], "s"),
        _row("load", f"first predict, warm-up ({note})", 1, med["first"], "s"),
        _row("load", f"second predict ({note})", 1, med["second"], "s"),
    ]


def _batch(args: argparse.Namespace, cfg: Path, run: dict, table: Path) -> tuple[list[dict], dict]:
    _say(f"{IN_PROCESS}: {args.rows:,} rows x {args.repeat}; the bare boosters")
    base = child(CHILD_PREDICT, URI, table, args.repeat, args.requests, args.http_batches, args.http_batch_rows)  # fmt: skip
    k, nb, n1 = args.http_batch_rows, args.http_batches, args.requests
    rps = base["rows"] / base["seconds"]
    bare_rps, bare_shap_rps = (base["rows"] / base[key][0] for key in ("bare", "bare_shap"))
    out = table.with_name(f"bench_serving_scores_{os.getpid()}.parquet")
    out.unlink(missing_ok=True)
    _say(f"segml score --chunk-size {args.chunk_size}")
    t = time.perf_counter()
    r = _segml("score", "--config", str(cfg), "--model", URI, "--features", str(table), "--out",
               str(out), "--chunk-size", str(args.chunk_size), "--json", env=_env(run["tracking_uri"]))  # fmt: skip
    wall = time.perf_counter() - t
    out.unlink(missing_ok=True)
    if r.returncode != 0:
        raise RuntimeError(f"segml score failed:\n{r.stderr}")
    info = json.loads(r.stdout)
    assert info["rows"] == args.rows, info
    score = f"segml score --chunk-size {args.chunk_size}"
    n = base["rows"]
    # fmt: off
    rows = [
        _row("batch", BARE, n, bare_rps, "rows/s"),
        _row("batch", BARE_SHAP, n, bare_shap_rps, "rows/s"),
        _row("batch", f"{IN_PROCESS} (median of {args.repeat})", n, rps, "rows/s", BARE_SHAP, bare_shap_rps),
        _row("batch", f"{IN_PROCESS} (median of {args.repeat})", n, rps, "rows/s", BARE, bare_rps),
        _row("batch", f"{BARE_SHAP_1} (median of {n1})", 1, base["bare_shap"][1] * 1e3, "ms"),
        _row("batch", f"{MLFLOW_1} (median of {n1})", 1, base["mlflow_1"] * 1e3, "ms"),
        _row("batch", f"{IN_PROCESS_1} (median of {n1})", 1, base["lat_median"] * 1e3, "ms", BARE_SHAP_1, base["bare_shap"][1] * 1e3),
        _row("batch", f"{IN_PROCESS_1} (p95 of {n1})", 1, base["lat_p95"] * 1e3, "ms", f"{BARE_SHAP_1} (p95)", base["bare_shap"][2] * 1e3),
        _row("batch", f"{IN_PROCESS}, {k}-row batches ({nb} calls, total)", k * nb, k * nb / base["batch_secs"], "rows/s", IN_PROCESS, rps),
        _row("batch", f"{score}: rows_per_second (read + predict + write)", info["rows"], info["rows_per_second"], "rows/s", IN_PROCESS, rps),
        _row("batch", f"{score}: load_seconds", None, info["load_seconds"], "s"),
        _row("batch", f"{score}: whole command (wall)", info["rows"], wall, "s"),
    ]
    # fmt: on
    return rows, {
        "rps": rps,
        "lat": base["lat_median"] * 1e3,
        "lat95": base["lat_p95"] * 1e3,
        "bare_lat": base["bare_shap"][1] * 1e3,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _payload(frame: pd.DataFrame) -> bytes:
    clean = frame.astype(object).where(frame.notna(), None)
    doc = {"dataframe_split": {"columns": list(frame.columns), "data": clean.values.tolist()}}
    return json.dumps(doc).encode()


def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[float, int, bytes]:
    """Seconds of one request, its HTTP status and the response body."""
    t = time.perf_counter()
    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    return time.perf_counter() - t, resp.status, data


def _clients(port: int, bodies: list[bytes], concurrency: int) -> dict:
    """Post every body once from ``concurrency`` threads, each on its own keep-alive connection.

    Thread ``t`` posts bodies ``t, t + concurrency, …``; all start together. Returns the
    latencies (s, per body), the wall time, the answers (None where the status was not 200) and
    the errors (position, status, the first 300 bytes of the body).
    """
    lat = np.zeros(len(bodies))
    answers: list[bytes | None] = [None] * len(bodies)
    errors: list[tuple[int, int, bytes]] = []
    start = threading.Barrier(concurrency + 1)

    def client(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        start.wait()
        for i in range(t, len(bodies), concurrency):
            lat[i], status, data = _post(conn, bodies[i])
            if status == 200:
                answers[i] = data
            else:
                errors.append((i, status, data[:300]))
        conn.close()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(concurrency)]
    for th in threads:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    return {"lat": lat, "wall": time.perf_counter() - t0, "answers": answers, "errors": errors}


def _wait_ping(server: subprocess.Popen, port: int, timeout: float, log: Path) -> None:
    deadline = time.time() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited; see {log}")
        if time.time() > deadline:
            raise RuntimeError(f"no /ping answer within {timeout} s")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/ping")
            ok = c.getresponse().status == 200
            c.close()
            if ok:
                return
        except OSError:
            pass
        time.sleep(0.2)


def _load_rows(runs: dict[int, dict], base: dict) -> list[dict]:
    """Latency, throughput and errors of each concurrency level (answers vs the serial ones)."""
    serial = runs[min(runs)]["answers"]
    out = []
    for c, r in runs.items():
        n = len(r["lat"])
        ms = r["lat"] * 1e3
        diff = sum(a is not None and a != s for a, s in zip(r["answers"], serial, strict=True))
        what = f"1-row requests, concurrency {c} ({n} requests"
        # fmt: off
        out += [
            _row("http", f"{what}): p50", 1, float(np.median(ms)), "ms", IN_PROCESS_1, base.get("lat")),
            _row("http", f"{what}): p50", 1, float(np.median(ms)), "ms", BARE_SHAP_1, base.get("bare_lat")),
            _row("http", f"{what}): p95", 1, float(np.percentile(ms, 95)), "ms", f"{IN_PROCESS_1} (p95)", base.get("lat95")),
            _row("http", f"{what}): throughput", n, n / r["wall"], "rows/s"),
            _row("http", f"{what}): errors (not HTTP 200)", n, len(r["errors"]), "count"),
            _row("http", f"{what}): answers unlike the serial ones", n, diff, "count"),
        ]
        # fmt: on
    return out


def _http(
    args: argparse.Namespace, root: Path, run: dict, table: Path, base: dict | None
) -> list[dict]:
    frame = pd.read_parquet(table)
    singles = [_payload(frame.iloc[[i % len(frame)]]) for i in range(args.http_requests + 4)]
    k = args.http_batch_rows
    idx = [np.arange(j * k, (j + 1) * k) % len(frame) for j in range(args.http_batches)]
    batches = [_payload(frame.iloc[i]) for i in idx]
    del frame
    port = _free_port()
    log = (root / "serve.log").open("w")
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", URI, "--env-manager", "local",
           "--host", "127.0.0.1", "-p", str(port), "--workers", str(args.workers)]  # fmt: skip
    _say(f"starting {' '.join(cmd[1:])}")
    t0 = time.perf_counter()
    server = subprocess.Popen(cmd, env=_env(run["tracking_uri"]), stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        _wait_ping(server, port, args.server_timeout, root / "serve.log")
        start = time.perf_counter() - t0
        _say(f"server up after {start:.1f} s")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        first, status, data = _post(conn, singles[0])
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:2000]!r}")
        for body in singles[1:4]:  # warm-up
            _post(conn, body)
        conn.close()  # idle through the load test, the server would close it
        runs = {}
        for c in args.concurrency:
            runs[c] = _clients(port, singles[4:], c)
            errors = runs[c]["errors"]
            _say(f"concurrency {c}: p50 {np.median(runs[c]['lat']) * 1e3:.1f} ms, "
                 f"{len(errors)} errors{f', e.g. {errors[0]}' if errors else ''}")  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        t = time.perf_counter()
        n = 0
        for body in batches:
            _, status, data = _post(conn, body)
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {data[:2000]!r}")
            n += len(json.loads(data)["predictions"])
        secs = time.perf_counter() - t
        conn.close()
    finally:
        _stop(server)
        log.close()
    b = base or {}
    # fmt: off
    return [
        _row("http", "server start (until /ping answers)", None, start, "s"),
        _row("http", "first request", 1, first * 1e3, "ms", IN_PROCESS_1, b.get("lat")),
        *_load_rows(runs, b),
        _row("http", f"{k}-row requests ({args.http_batches} requests, total)", n, n / secs,
             "rows/s", IN_PROCESS, b.get("rps")),
    ]
    # fmt: on


def _stop(server: subprocess.Popen) -> None:
    """End the server's process group (the CLI, uvicorn and its workers): TERM, then KILL.

    Returns once no process of the group is left (``mlflow models serve`` starts uvicorn as a
    child, which can outlive the CLI process by a few seconds while it shuts down).
    """
    group = server.pid  # start_new_session: the group is the server's own
    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + grace
        while time.time() < deadline:
            server.poll()  # reap the leader, or the group never empties
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
    server.poll()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=2000, help="synthetic bank size")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the scored table")
    ap.add_argument("--chunk-size", type=int, default=100_000, help="segml score --chunk-size")
    ap.add_argument("--repeat", type=int, default=3, help="fresh loads / full predicts")
    ap.add_argument("--requests", type=int, default=50, help="in-process 1-row predicts")
    ap.add_argument("--http-requests", type=int, default=400, help="1-row HTTP requests per level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8], help="client threads")
    ap.add_argument("--http-batches", type=int, default=20)
    ap.add_argument("--http-batch-rows", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1, help="mlflow models serve --workers")
    ap.add_argument("--server-timeout", type=float, default=300, help="seconds to wait for /ping")
    ap.add_argument(
        "--parts", nargs="+", choices=["load", "batch", "http"], default=["load", "batch", "http"]
    )
    ap.add_argument("--project", type=Path, help="project folder to create or reuse (kept)")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    if args.http_batch_rows > args.rows:  # a batch would repeat customer ids: refused by the model
        ap.error("--http-batch-rows must not exceed --rows")
    root = args.project or Path(tempfile.mkdtemp(prefix="segml-bench-serving-"))
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    ok = False
    try:
        cfg, run = _setup(root, args.customers, args.seed)
        os.environ.update(_env(run["tracking_uri"]))  # for common.child's processes
        table = _table(root, run, args.rows)
        rows: list[dict] = []
        base = None
        if "load" in args.parts:
            rows += _load(args, table)
        if "batch" in args.parts:
            batch, base = _batch(args, cfg, run, table)
            rows += batch
        if "http" in args.parts:
            rows += _http(args, root, run, table, base)
        ok = True
    finally:
        if args.project is None and ok:
            shutil.rmtree(root, ignore_errors=True)
        elif not ok:
            _say(f"failed; the project (and serve.log) stays in {root}")
    print(write_results("serving", rows, args.results))


if __name__ == "__main__":
    main()
