"""The MLflow tracking store as a reader of finished runs sees it.

Whether a store exists (opening an embedded SQLite store that does not exist would create
it), a client on it, and what it records about one pipeline run: status, times, parameters,
tags and its nested stage runs. MLflow is imported only when a store is opened, so the run
folder's readers stay light. The review pack (:mod:`segml.report.registry`) and
:func:`segml.run.open.open_run` read the store through these functions.

Examples
--------
>>> store_exists("sqlite:////no/such/mlflow.db")
False
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TrackedRun", "read_tracked_run", "store_client", "store_exists"]


def store_exists(uri: str) -> bool:
    """False for an embedded SQLite store whose file does not exist (opening would create it)."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).is_file()
    return True


def store_client(uri: str) -> Any:
    """An ``MlflowClient`` on ``uri``, for tracking and registry alike."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _when(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


@dataclass(frozen=True)
class TrackedRun:
    """What the tracking store records about one pipeline run.

    Attributes
    ----------
    run_id, status, experiment : str
        The parent run, its MLflow status (``FINISHED`` …) and its experiment's name.
    start, end : datetime or None
        When the run started and ended (UTC).
    params, tags : dict
        The run's parameters (the resolved config, flattened) and tags (git commit …).
    stage_runs : dict
        Stage name -> the nested stage run's id, in the order the stages started.
    uri : str
        The tracking URI.
    """

    run_id: str
    status: str
    experiment: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    stage_runs: dict[str, str] = field(default_factory=dict)
    uri: str = ""


def read_tracked_run(uri: str, run_id: str) -> TrackedRun | None:
    """The store's record of pipeline run ``run_id``, or None when the store or run is absent.

    Never raises: a store that cannot be read is no record (the run's folder still is one).
    """
    if not uri or not store_exists(uri):
        return None
    try:
        client = store_client(uri)
        run = client.get_run(run_id)
        exp = client.get_experiment(run.info.experiment_id)
        children = client.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
            max_results=500,
            order_by=["attributes.start_time ASC"],
        )
    except Exception:  # a record is a courtesy: any store problem means none
        return None
    stages = {
        str(c.data.tags.get("segml.stage") or c.info.run_name): c.info.run_id for c in children
    }
    return TrackedRun(
        run_id=run.info.run_id,
        status=run.info.status,
        experiment=None if exp is None else exp.name,
        start=_when(run.info.start_time),
        end=_when(run.info.end_time),
        params=dict(run.data.params),
        tags=dict(run.data.tags),
        stage_runs=stages,
        uri=uri,
    )
