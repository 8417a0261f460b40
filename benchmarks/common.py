"""Shared helpers of the benchmark scripts: isolated child processes and result tables."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path


def child(code: str, *args: object) -> dict:
    """Run ``code`` in a fresh Python process; it prints one JSON object last."""
    r = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True
    )
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


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
