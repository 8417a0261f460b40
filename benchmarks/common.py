"""Shared helpers of the benchmark scripts: isolated child processes and result tables."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def child(code: str, *args: object) -> dict:
    """Run ``code`` in a fresh Python process; it prints one JSON object last."""
    r = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True
    )
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def tile_frame(base: Any, n: int, seed: int, jitter: float) -> Any:
    """``base`` (a DataFrame) repeated to ``n`` rows: fresh unique ``customer_id`` values,
    numeric non-0/1 columns multiplied by ``1 + jitter * N(0, 1)`` (seeded; counts stay
    integers, shares stay in [0, 1]); text and 0/1 columns copied."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    idx = np.arange(n) % len(base)
    cols = {}
    for c in base.columns:
        s = base[c]
        if c == "customer_id":
            cols[c] = pd.array([f"T{i:09d}" for i in range(n)], dtype="str")
            continue
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        x = s.to_numpy(dtype=float, na_value=np.nan) if numeric else None
        seen = x[~np.isnan(x)] if numeric else None
        if not numeric or not len(seen) or np.isin(seen, (0.0, 1.0)).all():
            cols[c] = s.iloc[idx].reset_index(drop=True)  # text and 0/1 columns: copied
            continue
        v = x[idx] * (1.0 + jitter * rng.standard_normal(n))
        if seen.min() >= 0.0 and seen.max() <= 1.0:
            v = np.clip(v, 0.0, 1.0)
        if pd.api.types.is_integer_dtype(s):
            v = np.rint(v).astype(s.dtype)
        cols[c] = v
    return pd.DataFrame(cols)


def write_results(name: str, rows: list[dict], folder: Path) -> str:
    """Write ``rows`` as ``<name>.json`` and ``<name>.md`` in ``folder``; return the Markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    (folder / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    cols = list(dict.fromkeys(c for r in rows for c in r))  # every row's columns, in order
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    text = "\n".join(md) + "\n"
    (folder / f"{name}.md").write_text(text)
    return text


def run_grid(name: str, doc: str, evaluate: Any, customers: int, seeds: list[int]) -> None:
    """Command line of an evaluation over synthetic banks: ``--customers N… --seeds S…``.

    ``evaluate(customers, seed, cache)`` returns one result row per bank; the rows are
    written as ``results/<name>.{json,md}`` and the Markdown table printed.
    """
    import argparse

    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[customers])
    ap.add_argument("--seeds", type=int, nargs="+", default=seeds)
    ap.add_argument("--cache", type=Path, default=here.parent / "data" / "raw" / "synthetic")
    ap.add_argument("--results", type=Path, default=here / "results")
    args = ap.parse_args()
    rows = []
    for n in args.customers:
        for seed in args.seeds:
            print(f"[{name}] {n} customers, seed {seed}", file=sys.stderr, flush=True)
            rows.append(evaluate(n, seed, args.cache))
    print(write_results(name, rows, args.results))
