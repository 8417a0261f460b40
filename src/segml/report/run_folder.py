"""A finished run's output folder, read lazily: ``run.json``, documents, tables and figures.

The review pack is built from what a run left (``data/processed/runs/<name>-<run id[:12]>``)
and from the MLflow registry, never by re-fitting anything. A file the run did not write (a
stage that was disabled) reads as ``None``; the pack then says so.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__all__ = ["RunFolder", "RunNotFoundError", "latest_run", "locate_run"]

RUN_JSON = "run.json"


class RunNotFoundError(FileNotFoundError):
    """No usable run folder: unknown id, ambiguous prefix or a folder without ``run.json``."""


class RunFolder:
    """The output folder of one finished ``segml run``.

    Parameters
    ----------
    path : Path
        The folder; it must hold ``run.json``.

    Raises
    ------
    RunNotFoundError
        When ``run.json`` is missing or unreadable.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        record = self.path / RUN_JSON
        if not record.is_file():
            raise RunNotFoundError(
                f"{self.path} has no {RUN_JSON}: not the folder of a finished segml run"
            )
        try:
            self.run: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunNotFoundError(f"{record} cannot be read: {exc}") from exc
        if not isinstance(self.run, dict) or "run_id" not in self.run:
            raise RunNotFoundError(f"{record} is not a segml run record (no run_id)")
        self._json: dict[str, Any] = {}
        self._tables: dict[str, pd.DataFrame | None] = {}

    @property
    def run_id(self) -> str:
        """The MLflow parent run id."""
        return str(self.run["run_id"])

    @property
    def short_id(self) -> str:
        """The first 12 characters of the run id (as in the folder name)."""
        return self.run_id[:12]

    @property
    def metrics(self) -> dict[str, float]:
        """The run's flat metrics (``value.test.spearman`` …)."""
        return dict(self.run.get("metrics") or {})

    @property
    def model(self) -> dict[str, Any] | None:
        """The exported model's record (``name``, ``version``, ``alias``, ``run_id``), if any."""
        return self.run.get("model") or None

    def metric(self, key: str) -> float | None:
        """One metric, or ``None`` when the run did not compute it."""
        v = self.metrics.get(key)
        return None if v is None else float(v)

    def json(self, name: str) -> Any:
        """A JSON document of the folder (``name`` with or without ``.json``), or ``None``."""
        name = name if name.endswith(".json") else f"{name}.json"
        if name not in self._json:
            p = self.path / name
            self._json[name] = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None
        return self._json[name]

    def table(self, name: str) -> pd.DataFrame | None:
        """A Parquet table of the folder (``name`` without ``.parquet``), or ``None``."""
        if name not in self._tables:
            p = self.path / f"{name}.parquet"
            self._tables[name] = pd.read_parquet(p) if p.is_file() else None
        return self._tables[name]

    def figure(self, relative: str) -> Path | None:
        """A PNG under ``figures/`` (``"clv/value_deciles.png"``), or ``None``."""
        p = self.path / "figures" / relative
        return p if p.is_file() else None

    @cached_property
    def config_text(self) -> str:
        """The resolved config of the run, as written (YAML)."""
        p = self.path / "config.yaml"
        return p.read_text(encoding="utf-8") if p.is_file() else ""

    @cached_property
    def config(self) -> dict[str, Any]:
        """The resolved config of the run as a dict (empty when missing)."""
        data = yaml.safe_load(self.config_text) if self.config_text else None
        return data if isinstance(data, dict) else {}

    @cached_property
    def tier_labels(self) -> list[str]:
        """Tiers from the most to the least valuable (the loss tier last, if any)."""
        pol = self.json("tier_policy") or {}
        labels = list(pol.get("tiers") or [])
        if pol.get("loss_tier"):
            labels.append(pol["loss_tier"])
        return labels

    def active_features(self) -> pd.DataFrame | None:
        """The feature rows of the customers active at the as-of date (the tiered population)."""
        f = self.table("features")
        if f is None:
            return None
        if "is_active" in f:
            f = f[f["is_active"] == 1]
        return f.reset_index(drop=True)


def locate_run(run_id: str, runs_dir: Path) -> RunFolder:
    """The run folder of ``run_id`` (an MLflow run id, or a prefix of at least 6 characters).

    Raises
    ------
    RunNotFoundError
        When the id is too short, no folder or several match, or the folder has no ``run.json``
        or belongs to another run.
    """
    run_id = run_id.strip()
    if len(run_id) < 6:
        raise RunNotFoundError(f"run id {run_id!r} is too short: give at least 6 characters")
    key = run_id[:12]
    hits = sorted(p for p in runs_dir.glob(f"*-{key}*") if p.is_dir()) if runs_dir.is_dir() else []
    if len(hits) != 1:
        what = "no run folder" if not hits else f"{len(hits)} run folders {[h.name for h in hits]}"
        raise RunNotFoundError(f"{what} for run {run_id} in {runs_dir}")
    folder = RunFolder(hits[0])
    if not folder.run_id.startswith(run_id):
        raise RunNotFoundError(f"{hits[0]} holds run {folder.run_id}, not {run_id}")
    return folder


def latest_run(runs_dir: Path) -> RunFolder:
    """The most recently finished run in ``runs_dir`` (the newest ``run.json``).

    Raises
    ------
    RunNotFoundError
        When no folder in ``runs_dir`` holds a ``run.json``.
    """
    records = sorted(
        (p for p in runs_dir.glob(f"*/{RUN_JSON}") if p.is_file()) if runs_dir.is_dir() else [],
        key=lambda p: p.stat().st_mtime,
    )
    if not records:
        raise RunNotFoundError(f"no finished run (a folder with {RUN_JSON}) in {runs_dir}")
    return RunFolder(records[-1].parent)
