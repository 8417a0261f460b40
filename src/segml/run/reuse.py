"""Reuse of a finished run: what ``segml run --reuse`` (and so ``make demo``) looks up.

A run is reused, instead of computed again, when nothing it depends on changed:

* it is a finished run of the same config (a folder ``<name>-<run id[:12]>`` with ``run.json``
  in the config's ``output.dir``) and its tracking store is this run's and still records it,
  active and FINISHED;
* its resolved ``config.yaml`` is this run's resolved config, key for key;
* its data are the same: for the synthetic bank the resolved config determines the data; for
  a folder of contract tables the data fingerprint it logged (``data.fingerprint``, the digest
  of the contract files: :func:`segml.run.lineage.data_fingerprint`) equals the fingerprint of
  the folder now, and the ``data.mapping`` file was not changed after the run finished.

A change in segml's own code is not detected: ``segml run`` without ``--reuse`` (``make demo
FORCE=1``) computes a new run. Nothing here tracks, registers or writes anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from segml.contract import CONTRACT
from segml.run.config import RunConfig, resolve
from segml.run.folder import RUN_JSON, RunFolder, RunNotFoundError
from segml.run.lineage import contract_files, data_fingerprint, file_digest
from segml.run.result import RunResult

__all__ = ["find_reusable_run", "folder_fingerprint", "reused_result"]


def folder_fingerprint(folder: Path) -> str | None:
    """The data fingerprint of a folder of contract tables, as a run logs it.

    Each contract table's ``<table>.parquet`` (else ``.csv``) is digested as
    :func:`segml.run.lineage.log_contract_inputs` does, and the digests are combined by
    :func:`segml.run.lineage.data_fingerprint`. None when the folder cannot be read.
    """
    try:
        digests = {t: file_digest(p) for t, p in contract_files(folder, CONTRACT).items()}
    except OSError:
        return None
    return data_fingerprint(digests) if digests else None


def _resolved(cfg: RunConfig) -> dict[str, Any]:
    """The resolved config as a run's ``config.yaml`` reads back (YAML-normalised)."""
    return yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


def _mtime(path: Path) -> float:
    """When ``path`` was last written (0 when it is gone)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _candidates(runs_dir: Path, name: str) -> list[RunFolder]:
    """The finished runs of config ``name`` in ``runs_dir``, newest ``run.json`` first."""
    if not runs_dir.is_dir():
        return []
    records = [p for p in runs_dir.glob(f"*/{RUN_JSON}") if p.is_file()]
    records.sort(key=_mtime, reverse=True)
    out = []
    for record in records:
        try:
            folder = RunFolder(record.parent)
        except RunNotFoundError:
            continue
        if record.parent.name == f"{name}-{folder.short_id}":
            out.append(folder)
    return out


def _same_config(folder: RunFolder, wanted: dict[str, Any]) -> bool:
    """Whether the run's ``config.yaml`` is ``wanted`` (False when it cannot be read)."""
    try:
        return folder.config == wanted
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False


def _tracked_params(uri: str, run_id: str) -> dict[str, str] | None:
    """The parameters of run ``run_id`` when the store ``uri`` holds it active and FINISHED;
    None otherwise, or when the store cannot be read (an absent store is not created)."""
    from segml.run.store import store_client, store_exists

    if not uri or not store_exists(uri):
        return None
    try:
        run = store_client(uri).get_run(run_id)
    except Exception:  # any store problem: nothing to reuse, the run is computed
        return None
    if run.info.status != "FINISHED" or run.info.lifecycle_stage != "active":
        return None
    return dict(run.data.params)


def _same_data(cfg: RunConfig, root: Path, folder: RunFolder, params: dict[str, str],
               fingerprint: Callable[[], str | None]) -> bool:  # fmt: skip
    """Whether ``folder``'s run read the data this run would read."""
    if cfg.data.source == "synthetic":
        return True  # the resolved config (size, seed, calendar) determines the bank
    now = fingerprint()
    if now is None or params.get("data.fingerprint") != now:
        return False
    mapping = resolve(root, cfg.data.mapping)
    if mapping is None:
        return True
    return mapping.is_file() and _mtime(mapping) <= _mtime(folder.path / RUN_JSON)


def find_reusable_run(cfg: RunConfig, root: Path) -> RunFolder | None:
    """The newest finished run that ``segml run`` on ``cfg`` would only repeat, or None.

    Parameters
    ----------
    cfg : RunConfig
        The resolved config of the run asked for (overrides applied).
    root : Path
        Project root its relative paths are resolved against.

    Returns
    -------
    RunFolder or None
        The run's folder when one in ``output.dir`` has the same config name, the same
        resolved config, the same data and the same tracking store, which still records it as
        FINISHED (see the module's docstring); None when there is none.
    """
    from segml.run.tracking import tracking_uri

    runs_dir = resolve(root, cfg.output.dir)
    assert runs_dir is not None
    uri = tracking_uri(cfg.tracking, root)
    wanted = _resolved(cfg)
    cache: dict[str, str | None] = {}

    def fingerprint() -> str | None:  # digested once, only when a folder source needs it
        if "now" not in cache:
            data = resolve(root, cfg.data.path)
            cache["now"] = None if data is None else folder_fingerprint(data)
        return cache["now"]

    for folder in _candidates(runs_dir, cfg.name):
        if folder.run.get("status") != "FINISHED" or folder.run.get("tracking_uri") != uri:
            continue
        if not _same_config(folder, wanted):
            continue
        params = _tracked_params(uri, folder.run_id)
        if params is not None and _same_data(cfg, root, folder, params, fingerprint):
            return folder
    return None


def reused_result(folder: RunFolder) -> RunResult | None:
    """The :class:`~segml.run.result.RunResult` a reused run reported (its ``run.json``), for
    its summary; None when the record lacks a field the summary needs."""
    names = {f.name for f in fields(RunResult)}
    try:
        return RunResult(**{k: v for k, v in folder.run.items() if k in names})
    except TypeError:  # an older or damaged record: the run is still reused
        return None
