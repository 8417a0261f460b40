"""What the MLflow tracking store and model registry say about a run and its model.

The run's parent run (git commit, package versions, data fingerprint), the registered model
version the run exported and its aliases, and the current ``champion``: its version, its
``export`` run and that run's parent (``mlflow.parentRunId``), the pipeline run that trained
it. Every lookup that fails is recorded in :attr:`RegistryInfo.error`, never raised: the pack
then says what it could not read.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segml.run.store import store_client as _client
from segml.run.store import store_exists

__all__ = [
    "CHAMPION",
    "RegistryInfo",
    "child_run_metrics",
    "log_pack",
    "read_registry",
    "store_exists",
    "using_store",
]

CHAMPION = "champion"


@dataclass
class RegistryInfo:
    """The registry's view of one run's model, and of the champion."""

    uri: str
    name: str | None = None
    version: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    version_created: str | None = None
    version_tags: dict[str, str] = field(default_factory=dict)
    champion_version: str | None = None
    champion_export_run: str | None = None
    champion_run_id: str | None = None
    parent_tags: dict[str, str] = field(default_factory=dict)
    parent_params: dict[str, str] = field(default_factory=dict)
    experiment: str | None = None
    error: str | None = None

    @property
    def this_aliases(self) -> list[str]:
        """Aliases that point at this run's model version."""
        return sorted(a for a, v in self.aliases.items() if v == self.version)

    @property
    def champion_is_this(self) -> bool:
        """True when the champion alias points at this run's version."""
        return self.champion_version is not None and self.champion_version == self.version


def read_registry(uri: str, run_id: str, model: dict[str, Any] | None) -> RegistryInfo:
    """Look up the parent run ``run_id`` and its registered model (``model`` from ``run.json``).

    Parameters
    ----------
    uri : str
        Tracking (and registry) URI.
    run_id : str
        The pipeline's parent run.
    model : dict, optional
        ``run.json``'s ``model`` record (``name``, ``version``); ``None`` when nothing was exported.

    Returns
    -------
    RegistryInfo
        With ``error`` set to the first failure, if any.
    """
    from mlflow.exceptions import MlflowException

    info = RegistryInfo(uri=uri)
    if not store_exists(uri):
        info.error = f"tracking store {uri} not found"
        return info
    client = _client(uri)
    try:
        parent = client.get_run(run_id)
        info.parent_tags = dict(parent.data.tags)
        info.parent_params = dict(parent.data.params)
        exp = client.get_experiment(parent.info.experiment_id)
        info.experiment = exp.name if exp is not None else None
    except (MlflowException, OSError) as exc:
        info.error = f"run {run_id} not found in {uri}: {_first_line(exc)}"
        return info
    if not model:
        return info
    info.name, info.version = str(model["name"]), str(model["version"])
    try:
        registered = client.get_registered_model(info.name)
        info.aliases = {a: str(v) for a, v in registered.aliases.items()}
        mv = client.get_model_version(info.name, info.version)
        info.version_tags = dict(mv.tags)
        created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC)
        info.version_created = created.strftime("%Y-%m-%d %H:%M UTC")
        info.champion_version = info.aliases.get(CHAMPION)
        if info.champion_version is not None:
            champ = client.get_model_version(info.name, info.champion_version)
            info.champion_export_run = champ.run_id
            export_run = client.get_run(champ.run_id)
            info.champion_run_id = export_run.data.tags.get("mlflow.parentRunId", champ.run_id)
    except (MlflowException, OSError) as exc:
        info.error = f"registry lookup of {info.name} failed: {_first_line(exc)}"
    return info


def child_run_metrics(uri: str, parent_run_id: str) -> dict[str, float]:
    """``stage.metric`` → value from the nested stage runs of a pipeline run (as in run.json)."""
    client = _client(uri)
    parent = client.get_run(parent_run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=200,
    )
    out: dict[str, float] = {}
    for child in children:
        stage = child.data.tags.get("segml.stage") or child.info.run_name
        for k, v in child.data.metrics.items():
            if k != "seconds":
                out[f"{stage}.{k}"] = float(v)
    return out


@contextmanager
def using_store(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking and registry URIs at ``uri`` for the block, then restore."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI")
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking if before[0] is None else before[0])
        mlflow.set_registry_uri(registry if before[1] is None else before[1])
        # MLflow mirrors both URIs into the environment (for subprocesses): put it back as it was
        for name, value in zip(("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"), before, strict=True):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def log_pack(uri: str, run_id: str, path: Path, artifact_path: str = "report") -> str:
    """Log the pack to the run's artifacts under ``report/``; return the artifact's URI.

    Raises
    ------
    mlflow.exceptions.MlflowException, OSError
        When the store refuses.
    """
    client = _client(uri)
    client.log_artifact(run_id, str(path), artifact_path)
    root = client.get_run(run_id).info.artifact_uri.rstrip("/")
    return f"{root}/{artifact_path}/{path.name}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
