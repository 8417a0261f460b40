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
* **batch** — ``segml score --json`` (the CLI, as a subprocess; ``--chunk-size``, default
  100,000) on the table: its own ``rows_per_second`` (read Parquet + predict + write Parquet, model
  load excluded) and the subprocess's wall time; and the baseline **in-process predict**: in a
  fresh process, ``loaded.predict(frame)`` on the whole table already in memory (median of
  ``--repeat`` calls after a 1-row warm-up), the latency of 1-row ``predict`` calls
  (``--requests`` calls on distinct rows; median and p95), and the throughput of the HTTP part's
  batches predicted in process (same rows, same batch size).
* **http** — ``mlflow models serve -m models:/segml-tiering@champion --env-manager local``
  (``--workers``), started once and always terminated (its whole process group): time until
  ``/ping`` answers; the first request; single-row latency (``--requests`` requests, distinct
  rows, after 3 warm-up requests; median and p95); batch throughput (``--http-batches`` requests
  of ``--http-batch-rows`` rows: total rows / total time). Payloads are ``dataframe_split`` JSON
  (NaN sent as null) built before the clock starts, so the times are the request round trip
  (server parsing, schema enforcement, predict, response JSON, client JSON decode) over one
  keep-alive connection. The server's log goes to ``serve.log`` in the project folder.

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
import mlflow, numpy as np, pandas as pd
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
print(json.dumps({"rows": len(frame), "seconds": statistics.median(secs), "batch_secs": batch_secs,
                  "lat_median": float(np.median(lat)), "lat_p95": float(np.percentile(lat, 95))}))
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
    _say(f"{IN_PROCESS}: {args.rows:,} rows x {args.repeat}")
    base = child(
        CHILD_PREDICT,
        URI,
        table,
        args.repeat,
        args.requests,
        args.http_batches,
        args.http_batch_rows,
    )
    k, nb = args.http_batch_rows, args.http_batches
    base_rps = base["rows"] / base["seconds"]
    out = table.with_name(f"bench_serving_scores_{os.getpid()}.parquet")
    out.unlink(missing_ok=True)
    _say(f"segml score --chunk-size {args.chunk_size}")
    t = time.perf_counter()
    r = _segml(
        "score",
        "--config",
        str(cfg),
        "--model",
        URI,
        "--features",
        str(table),
        "--out",
        str(out),
        "--chunk-size",
        str(args.chunk_size),
        "--json",
        env=_env(run["tracking_uri"]),
    )
    wall = time.perf_counter() - t
    out.unlink(missing_ok=True)
    if r.returncode != 0:
        raise RuntimeError(f"segml score failed:\n{r.stderr}")
    info = json.loads(r.stdout)
    assert info["rows"] == args.rows, info
    score = f"segml score --chunk-size {args.chunk_size}"
    rows = [
        _row("batch", f"{IN_PROCESS} (median of {args.repeat})", base["rows"], base_rps, "rows/s"),
        _row(
            "batch",
            f"{IN_PROCESS}, 1 row (median of {args.requests})",
            1,
            base["lat_median"] * 1e3,
            "ms",
        ),
        _row(
            "batch", f"{IN_PROCESS}, 1 row (p95 of {args.requests})", 1, base["lat_p95"] * 1e3, "ms"
        ),
        _row(
            "batch",
            f"{IN_PROCESS}, {k}-row batches ({nb} calls, total)",
            k * nb,
            k * nb / base["batch_secs"],
            "rows/s",
            IN_PROCESS,
            base_rps,
        ),
        _row(
            "batch",
            f"{score}: rows_per_second (read + predict + write)",
            info["rows"],
            info["rows_per_second"],
            "rows/s",
            IN_PROCESS,
            base_rps,
        ),
        _row("batch", f"{score}: load_seconds", None, info["load_seconds"], "s"),
        _row("batch", f"{score}: whole command (wall)", info["rows"], wall, "s"),
    ]
    return rows, {"rps": base_rps, "lat": base["lat_median"] * 1e3, "lat95": base["lat_p95"] * 1e3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _payload(frame: pd.DataFrame) -> bytes:
    clean = frame.astype(object).where(frame.notna(), None)
    doc = {"dataframe_split": {"columns": list(frame.columns), "data": clean.values.tolist()}}
    return json.dumps(doc).encode()


def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[float, int]:
    """Seconds of one request and the number of predictions returned."""
    t = time.perf_counter()
    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    secs = time.perf_counter() - t
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {data[:2000]!r}")
    return secs, len(json.loads(data)["predictions"])


def _http(
    args: argparse.Namespace, root: Path, run: dict, table: Path, base: dict | None
) -> list[dict]:
    frame = pd.read_parquet(table)
    singles = [_payload(frame.iloc[[i % len(frame)]]) for i in range(args.requests + 4)]
    k = args.http_batch_rows
    idx = [np.arange(j * k, (j + 1) * k) % len(frame) for j in range(args.http_batches)]
    batches = [_payload(frame.iloc[i]) for i in idx]
    del frame
    port = _free_port()
    log = (root / "serve.log").open("w")
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        URI,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        str(args.workers),
    ]
    _say(f"starting {' '.join(cmd[1:])}")
    t0 = time.perf_counter()
    server = subprocess.Popen(
        cmd,
        env=_env(run["tracking_uri"]),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + args.server_timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited; see {root / 'serve.log'}")
            if time.time() > deadline:
                raise RuntimeError(f"no /ping answer within {args.server_timeout} s")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/ping")
                ok = c.getresponse().status == 200
                c.close()
                if ok:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        start = time.perf_counter() - t0
        _say(f"server up after {start:.1f} s")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        first, _ = _post(conn, singles[0])
        for body in singles[1:4]:  # warm-up
            _post(conn, body)
        lat = np.array([_post(conn, body)[0] for body in singles[4:]]) * 1e3
        _say(f"single-row: median {np.median(lat):.1f} ms")
        t = time.perf_counter()
        n = sum(_post(conn, body)[1] for body in batches)
        secs = time.perf_counter() - t
        conn.close()
    finally:
        _stop(server)
        log.close()
    b = base or {}
    n1 = args.requests
    return [
        _row("http", "server start (until /ping answers)", None, start, "s"),
        _row("http", "first request", 1, first * 1e3, "ms", IN_PROCESS_1, b.get("lat")),
        _row(
            "http",
            f"1-row request (median of {n1})",
            1,
            float(np.median(lat)),
            "ms",
            IN_PROCESS_1,
            b.get("lat"),
        ),
        _row(
            "http",
            f"1-row request (p95 of {n1})",
            1,
            float(np.percentile(lat, 95)),
            "ms",
            f"{IN_PROCESS_1} (p95)",
            b.get("lat95"),
        ),
        _row(
            "http",
            f"{k}-row requests ({args.http_batches} requests, total)",
            n,
            n / secs,
            "rows/s",
            IN_PROCESS,
            b.get("rps"),
        ),
    ]


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
    ap.add_argument("--requests", type=int, default=50, help="1-row requests (and predicts)")
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
