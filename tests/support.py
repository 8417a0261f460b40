"""What several test modules share: a throwaway project, the ``segml`` command in a subprocess,
strict JSON and the review pack's sections (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

#: in-process commands read the store of their config, never one an earlier test left set
NO_STORE_ENV = {"MLFLOW_TRACKING_URI": None, "MLFLOW_REGISTRY_URI": None}

SECTIONS = [
    "purpose",
    "concentration",
    "segments",
    "validation",
    "explanations",
    "stability",
    "fairness",
    "champion",
    "model-card",
]


def make_project(tmp: Path, **synthetic: object) -> Path:
    """A throwaway project root with one config; returns the config path."""
    (tmp / "experiments" / "configs").mkdir(parents=True)
    cfg = {
        "name": "t",
        "seed": 5,
        "synthetic": {"customers": 300, "chunk_size": 200, **synthetic},
        "tracking": {"experiment": "segml-test"},
    }
    path = tmp / "experiments" / "configs" / "t.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def segml(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # a store set by an earlier in-process test must not leak into the command
    scrub = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    full_env = {k: v for k, v in os.environ.items() if k not in scrub}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "segml", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=3600,  # hang protection only: a busy machine is slow, not broken
    )


def strict_json(text: str) -> Any:
    """Parse ``text`` as strict JSON: NaN, Infinity and -Infinity fail the test."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
