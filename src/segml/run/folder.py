"""A run's output folder: written once by :meth:`RunFolder.write`, read lazily by :class:`RunFolder`.

The folder (``data/processed/runs/<name>-<run id[:12]>``) holds each step's tables
(``<name>.parquet``), JSON documents (``<name>.json``), figures (``figures/<step>/``), the
resolved ``config.yaml`` and, written last, ``run.json``. This module is the one place that
knows that layout. The review pack, ``segml explain`` and :func:`segml.open_run` are built from
what a run left and from the MLflow registry, never by re-fitting anything. A file the run did
not write (a step that was disabled) reads as ``None``; the pack then says so.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import yaml

__all__ = [
    "NoRunFolderError",
    "RunFolder",
    "RunIdError",
    "RunContents",
    "RunNotFoundError",
    "StepFiles",
    "find_run_folder",
    "latest_run",
    "locate_run",
    "tracked_run_note",
]

RUN_JSON = "run.json"


class RunNotFoundError(FileNotFoundError):
    """No usable run folder: unknown id, ambiguous prefix or a folder without ``run.json``."""


class RunIdError(RunNotFoundError, ValueError):
    """A run id that cannot be looked up (too short): a usage error as much as a missing run."""


class NoRunFolderError(RunNotFoundError):
    """No folder at all matches the run id (the tracking store may know why: see
    :func:`tracked_run_note`)."""


def _dump_json(obj: Any, path: Path, sort_keys: bool = True) -> None:
    """Write ``obj`` as stable, indented JSON (``sort_keys=False`` keeps an order that means
    something, e.g. steps in the order they ran)."""
    path.write_text(json.dumps(obj, indent=2, sort_keys=sort_keys, default=str), encoding="utf-8")


@dataclass
class RunContents:
    """Everything a finished run writes into its folder (:meth:`RunFolder.write`).

    ``tables``: DataFrames by name; ``files``: Parquet files already written (moved in);
    ``arrow``: Arrow tables by name (features, labels); ``documents``: JSON documents by file
    name; ``figures``: the folder of the steps' figures (``<step>/<name>.png``); ``config``:
    the resolved config; ``record``: ``run.json``, written last, its keys in order.
    """

    record: dict[str, Any]
    config: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    arrow: dict[str, pa.Table] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    figures: Path | None = None


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

    @classmethod
    def write(cls, path: Path, contents: RunContents) -> RunFolder:
        """Write a run's outputs into the empty folder ``path`` and open it.

        ``run.json`` is written last: a folder without it is not a finished run's. The caller
        gives the folder its final name afterwards (:func:`segml.io.atomic_output_dir`).
        """
        from segml.features import write_features

        path = Path(path)
        for name, df in contents.tables.items():
            df.to_parquet(path / f"{name}.parquet", index=False)
        for name, file in contents.files.items():
            shutil.move(file, path / f"{name}.parquet")
        for name, doc in contents.documents.items():
            _dump_json(doc, path / name)
        for name, table in contents.arrow.items():
            write_features(table, path / f"{name}.parquet")
        if contents.figures is not None and any(contents.figures.rglob("*.png")):
            shutil.copytree(contents.figures, path / "figures")
        config = yaml.safe_dump(contents.config, sort_keys=False)
        (path / "config.yaml").write_text(config, encoding="utf-8")
        _dump_json(contents.record, path / RUN_JSON, sort_keys=False)  # steps in run order
        return cls(path)

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


class StepFiles:
    """One step's outputs in a run folder, as a library outcome reads them
    (:class:`segml.outcome.Outputs`): the folder's tables and documents, the run's metrics of
    that step without its prefix, and ``figures/<step>``.

    Parameters
    ----------
    folder : RunFolder
        The finished run's folder.
    step : str
        The step (``"clv"``), the prefix of its metrics in ``run.json``.
    """

    def __init__(self, folder: RunFolder, step: str):
        self.folder, self.step = folder, step

    @property
    def metrics(self) -> dict[str, float]:
        """The step's metrics, ``holdout.purchases.mae`` for ``clv.holdout.purchases.mae``."""
        from segml.outcome import Metrics

        return Metrics(self.folder.metrics).under(self.step).to_dict()

    @property
    def figure_dir(self) -> Path:
        """``figures/<step>`` of the folder (may not exist)."""
        return self.folder.path / "figures" / self.step

    def table(self, name: str) -> pd.DataFrame | None:
        """Table ``name`` of the folder, or None."""
        return self.folder.table(name)

    def json(self, name: str) -> Any:
        """Document ``name`` of the folder, or None."""
        return self.folder.json(name)


def find_run_folder(run_id: str, runs_dir: Path) -> Path:
    """The folder ``<name>-<run id[:12]>`` of run ``run_id`` in ``runs_dir``: the one lookup of a
    run's folder by id (``segml explain``, ``segml report``, :func:`segml.open_run`).

    Parameters
    ----------
    run_id : str
        An MLflow run id, or a prefix of at least 6 characters.
    runs_dir : Path
        The ``output.dir`` that holds run folders.

    Raises
    ------
    RunIdError
        When the id is shorter than 6 characters (also a ``ValueError``).
    NoRunFolderError
        When no folder matches (the tracking store may say why: :func:`tracked_run_note`).
    RunNotFoundError
        When several folders match.

    Examples
    --------
    >>> find_run_folder("86b06bc6f1c3", Path("data/processed/runs"))  # doctest: +SKIP
    PosixPath('data/processed/runs/t-86b06bc6f1c3')
    """
    run_id = run_id.strip()
    if len(run_id) < 6:
        raise RunIdError(f"run id {run_id!r} is too short: give at least 6 characters")
    key = run_id[:12]
    hits = sorted(p for p in runs_dir.glob(f"*-{key}*") if p.is_dir()) if runs_dir.is_dir() else []
    if not hits:
        raise NoRunFolderError(f"no run folder for run {run_id} in {runs_dir}")
    if len(hits) != 1:
        names = [h.name for h in hits]
        raise RunNotFoundError(f"{len(hits)} run folders {names} for run {run_id} in {runs_dir}")
    return hits[0]


def locate_run(run_id: str, runs_dir: Path) -> RunFolder:
    """The run folder of ``run_id`` (an MLflow run id, or a prefix of at least 6 characters),
    found by :func:`find_run_folder` and read.

    Raises
    ------
    RunNotFoundError
        When the id is too short, no folder or several match, or the folder has no ``run.json``
        or belongs to another run.
    """
    run_id = run_id.strip()
    path = find_run_folder(run_id, runs_dir)
    folder = RunFolder(path)
    if not folder.run_id.startswith(run_id):
        raise RunNotFoundError(f"{path} holds run {folder.run_id}, not {run_id}")
    return folder


def _run_config_name(folder: Path) -> str | None:
    """The ``name`` in a run folder's ``config.yaml`` (None when it cannot be read)."""
    try:
        data = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return None if name is None else str(name)


def _finished_runs(runs_dir: Path) -> list[tuple[Path, str]]:
    """Folders ``<name>-<run id[:12]>`` of ``runs_dir`` that hold a ``run.json``, oldest first,
    each with the config name its folder name gives (the part before the run id)."""
    records = (p for p in runs_dir.glob(f"*/{RUN_JSON}") if p.is_file()) if runs_dir.is_dir() else ()  # fmt: skip
    out = []
    for record in sorted(records, key=lambda p: p.stat().st_mtime):
        match = re.fullmatch(r"(.+)-([0-9a-f]{12})", record.parent.name)
        out.append((record.parent, match.group(1) if match else ""))
    return out


def latest_run(runs_dir: Path, name: str | None = None) -> RunFolder:
    """The most recently finished run in ``runs_dir`` (the newest ``run.json``), of the config
    named ``name`` when given.

    Several configs may share an ``output.dir``: with ``name`` only a folder
    ``<name>-<run id[:12]>`` whose ``config.yaml`` (when readable) says ``name: <name>`` counts,
    never another config's newer run.

    Parameters
    ----------
    runs_dir : Path
        The ``output.dir`` that holds run folders.
    name : str, optional
        The config's ``name``; None: any config's run.

    Raises
    ------
    RunNotFoundError
        When no such folder holds a ``run.json``: naming ``runs_dir``, ``name`` and the
        configs whose runs it does hold.
    """
    found = _finished_runs(runs_dir)
    for path, of in reversed(found):  # newest first; config.yaml read only for a name's match
        if name is None or (of == name and _run_config_name(path) in (None, name)):
            return RunFolder(path)
    if name is None:
        raise RunNotFoundError(f"no finished run (a folder with {RUN_JSON}) in {runs_dir}")
    others = sorted({of for _, of in found if of and of != name})
    held = f"; it holds runs of other configs only: {', '.join(map(repr, others))}" if others else ""  # fmt: skip
    raise RunNotFoundError(
        f"no finished run of config {name!r} in {runs_dir} (a folder {name}-<run id> with "
        f"{RUN_JSON}){held}"
    )


def _first_lines(text: str, lines: int = 3, width: int = 300) -> str:
    """The first ``lines`` non-empty lines of ``text``, each cut at ``width``, indented."""
    rows = [r.strip() for r in str(text).strip().splitlines() if r.strip()]
    out = [r if len(r) <= width else r[:width] + " …" for r in rows[:lines]]
    if len(rows) > lines:
        out.append("…")
    return "".join(f"\n  {r}" for r in out)


def tracked_run_note(uri: str, run_id: str, runs_dir: Path) -> str | None:
    """Why run ``run_id`` has no folder in ``runs_dir``, as the tracking store ``uri`` tells it.

    A ``segml run`` writes its folder only when it finishes; a run that failed (MLflow status
    FAILED), was stopped (KILLED) or is still running (RUNNING) has none. The pipeline tags a
    failed parent run and its failed stage run with ``error``; the stage run also carries
    ``segml.stage``. A FINISHED run without a folder here was written elsewhere (the
    ``output.dir`` parameter and the ``segml.config_path`` tag of the run say where).

    Parameters
    ----------
    uri : str
        Tracking URI (an embedded SQLite store that does not exist is not created).
    run_id : str
        The MLflow run id or a prefix of it (hexadecimal).
    runs_dir : Path
        Where the folder was looked for, for the message.

    Returns
    -------
    str or None
        A message (the error's first lines included), or ``None`` when the store cannot be
        read or has no such run (exactly one parent run must match the prefix).
    """
    from segml.run.store import store_client, store_exists

    run_id = run_id.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{6,32}", run_id) or not uri or not store_exists(uri):
        return None
    try:
        client = store_client(uri)
        if len(run_id) == 32:
            runs = [client.get_run(run_id)]
        else:
            exps = [e.experiment_id for e in client.search_experiments()]
            runs = client.search_runs(exps, f"attributes.run_id LIKE '{run_id}%'", max_results=5)
        runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags] or runs
        if len(runs) != 1:
            return None
        run = runs[0]
        rid, status = run.info.run_id, run.info.status
        parent = run.data.tags.get("mlflow.parentRunId")
        if parent:
            stage = run.data.tags.get("segml.stage") or run.info.run_name
            return (
                f"run {rid} is the {stage!r} stage of pipeline run {parent}: give that id "
                f"(status {status})"
            )
        if status == "FAILED":
            failed = client.search_runs(
                [run.info.experiment_id],
                f"tags.mlflow.parentRunId = '{rid}' and attributes.status = 'FAILED'",
                max_results=50,
            )
            stages = [c.data.tags.get("segml.stage") or c.info.run_name for c in failed]
            error = run.data.tags.get("error") or next(
                (c.data.tags["error"] for c in failed if c.data.tags.get("error")), ""
            )
            where = f" in stage {', '.join(stages)}" if stages else ""
            why = f":{_first_lines(error)}" if error else ""
            return (
                f"run {rid} failed{where} (MLflow status FAILED){why}\n"
                "a failed run writes no run folder: fix the cause and run it again (the full "
                f"error is the run's error.txt artifact in {uri})"
            )
        if status in ("RUNNING", "SCHEDULED"):
            return (
                f"run {rid} has not finished (MLflow status {status}): its folder is written "
                f"when it ends; if its process was stopped, run it again"
            )
        if status == "KILLED":
            return f"run {rid} was stopped (MLflow status KILLED) and wrote no run folder"
        where = run.data.params.get("output.dir")
        config = run.data.tags.get("segml.config_path")
        return (
            f"run {rid} is {status} in {uri} but has no folder in {runs_dir}"
            + (f"; it wrote its outputs under output.dir {where}" if where else "")
            + (f" (config {config}: pass it with --config)" if config else "")
            + "; or its folder was moved or deleted"
        )
    except Exception:  # a note is a courtesy: any store problem means none
        return None
