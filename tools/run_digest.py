"""Digest of a finished run's outputs, to show that a change of code left a run's results as
they were.

Every table is digested by its content (columns, dtypes and values, to the bit); every JSON or
YAML document by its content without the fields that name this run (ids, paths, timings,
registry versions). Figures are left out (their PNG bytes carry library versions).

    python tools/run_digest.py data/processed/runs/default-<id> > before.json
    python tools/run_digest.py data/processed/runs/default-<id> --against before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

# fields that differ between two runs of the same config and code
VOLATILE = {
    "run_id", "output_dir", "tracking_uri", "data_dir", "stage_seconds", "step_seconds",
    "stage_memory_mb", "version", "model_uri", "source", "run_name", "created", "path",
    "artifact_uri", "registered_at", "seconds", "elapsed_seconds", "peak_mb",
    "export.model_version", "folder", "files",
}  # fmt: skip


def _scrub(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in sorted(obj.items()) if k not in VOLATILE}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def _table_digest(path: Path) -> str:
    df = pd.read_parquet(path)
    h = hashlib.sha256()
    h.update(json.dumps([list(map(str, df.columns)), list(map(str, df.dtypes))]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def digest(folder: Path) -> dict[str, str]:
    """``{relative path: digest}`` of every table and document of a run folder."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.suffix == ".parquet" and path.is_file():
            out[rel] = _table_digest(path)
        elif path.suffix in {".json", ".yaml"}:
            text = path.read_text(encoding="utf-8")
            doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            blob = json.dumps(_scrub(doc), sort_keys=True, default=str)
            out[rel] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--against", type=Path, help="a stored digest: list what differs")
    args = ap.parse_args(argv)
    now = digest(args.folder)
    if args.against is None:
        print(json.dumps(now, indent=1, sort_keys=True))
        return 0
    before = json.loads(args.against.read_text(encoding="utf-8"))
    diff = sorted(k for k in now.keys() | before.keys() if now.get(k) != before.get(k))
    for k in diff:
        print(f"{k}: {before.get(k, '(absent)')} -> {now.get(k, '(absent)')}")
    print(f"{len(now)} outputs, {len(diff)} differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
