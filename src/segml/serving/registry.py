"""The registry of exported models: the versions a reviewer chooses from and the alias move.

:func:`model_versions` lists each registered version of the model with the segml run that made
it (config name, run, data fingerprint, size, key metrics) and its aliases
(:func:`versions_table` as text); :func:`promote` moves ``champion`` to a reviewed version,
refusing one whose run did not finish (:func:`check_run_finished`) or that another config's
run made (:class:`OtherConfigError`, unless forced).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from segml.serving.pyfunc import MODEL_NAME

__all__ = [
    "VERSION_METRICS",
    "OtherConfigError",
    "check_run_finished",
    "model_versions",
    "promote",
    "segml_run",
    "version_record",
    "versions_table",
]


def check_run_finished(client: MlflowClient, mv: Any) -> None:
    """Refuse a model version whose run, or the segml run it belongs to, is not FINISHED.

    Raises
    ------
    LookupError
        Naming the version, the run and its state (and why it failed, when tagged).
    """
    ids = [mv.run_id] if mv.run_id else []
    parent = (mv.tags or {}).get("segml.run_id")
    try:
        runs = [client.get_run(i) for i in ids]
        parent = parent or (runs[0].data.tags.get("mlflow.parentRunId") if runs else None)
        if parent and parent not in ids:
            runs.append(client.get_run(parent))
    except MlflowException as exc:
        raise LookupError(f"{mv.name} version {mv.version}: its run cannot be found ({exc.message})") from exc  # fmt: skip
    if not runs:
        raise LookupError(f"{mv.name} version {mv.version} names no run: it cannot take an alias")
    for run in runs:
        state = run.info.status
        if state != "FINISHED":
            why = run.data.tags.get("segml.killed") or run.data.tags.get("error", "")
            name = run.data.tags.get("mlflow.runName") or run.info.run_name or ""
            raise LookupError(
                f"{mv.name} version {mv.version} comes from run {run.info.run_id} ({name}), "
                f"which is {state}{': ' + why[:300] if why else ''}; only a model of a "
                "FINISHED run can take an alias"
            )


#: What :func:`model_versions` shows of each version's segml run: ``<stage>.<metric>``, as in
#: the run's ``run.json``, logged as ``<metric>`` on the run's nested run of that stage.
VERSION_METRICS = (
    "features.rows",  # customers in the feature table
    "tiers.concentration.customers",  # customers tiered
    "value.test.spearman",
    "value.test.mae",
    "churn.test.roc_auc",
)


class OtherConfigError(LookupError):
    """A version that a run of another config made (:func:`promote` with ``config_name``)."""


def _no_model(client: MlflowClient, name: str) -> str:
    """Why ``name`` cannot be found: the models the registry does hold."""
    try:
        held = sorted(m.name for m in client.search_registered_models(max_results=50))
    except MlflowException:
        held = []
    return f"no registered model {name!r}" + (f" (the registry holds: {', '.join(held)})" if held else "")  # fmt: skip


def segml_run(client: MlflowClient, mv: Any) -> Any | None:
    """The ``segml run`` (parent) run that made model version ``mv``, or None when gone.

    The version's tag ``segml.run_id`` names it; else the parent of the (``export`` stage)
    run that logged the version; else that run itself.
    """
    parent = (mv.tags or {}).get("segml.run_id")
    try:
        if parent:
            return client.get_run(parent)
        if not mv.run_id:
            return None
        run = client.get_run(mv.run_id)
        up = run.data.tags.get("mlflow.parentRunId")
        return client.get_run(up) if up else run
    except MlflowException:
        return None


def _stage_metrics(client: MlflowClient, run: Any) -> dict[str, float | None]:
    """:data:`VERSION_METRICS` of a segml run, read from its stage runs (None: not logged)."""
    stages = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'", max_results=200
    )
    by_stage = {s.data.tags.get("segml.stage") or s.info.run_name: s.data.metrics for s in stages}
    out: dict[str, float | None] = {}
    for key in VERSION_METRICS:
        stage, metric = key.split(".", 1)
        value = by_stage.get(stage, {}).get(metric)
        out[key] = None if value is None or not np.isfinite(value) else float(value)
    return out


def version_record(client: MlflowClient, mv: Any, aliases: list[str]) -> dict[str, Any]:
    """One version as :func:`model_versions` lists it (strict JSON: None where unknown)."""
    run = segml_run(client, mv)
    created = pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC") if mv.creation_timestamp else None  # fmt: skip
    return {
        "version": str(mv.version),
        "aliases": sorted(aliases),
        "registered": None if created is None else created.isoformat(timespec="seconds"),
        "run_id": None if run is None else run.info.run_id,
        "run_status": None if run is None else run.info.status,
        "config_name": None if run is None else run.data.tags.get("segml.config_name"),
        "data_fingerprint": None if run is None else run.data.params.get("data.fingerprint"),
        "metrics": dict.fromkeys(VERSION_METRICS) if run is None else _stage_metrics(client, run),
    }


def model_versions(client: MlflowClient, name: str = MODEL_NAME) -> list[dict[str, Any]]:
    """Every registered version of ``name``, newest first, with what a reviewer compares.

    Returns
    -------
    list of dict
        ``version``, ``aliases``, ``registered`` (UTC, ISO 8601), ``run_id`` and
        ``run_status`` of the segml run that made it, its ``config_name`` (tag
        ``segml.config_name``), ``data_fingerprint`` (parameter ``data.fingerprint``) and
        ``metrics`` (:data:`VERSION_METRICS`); None where the run is gone or did not log it.

    Raises
    ------
    LookupError
        When there is no such registered model (naming those the registry holds).
    """
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        raise LookupError(_no_model(client, name)) from exc
    aliases: dict[str, list[str]] = {}
    for a, v in model.aliases.items():
        aliases.setdefault(str(v), []).append(a)
    quote = '"' if "'" in name else "'"  # MLflow's filter takes either quote, escapes neither
    found = client.search_model_versions(f"name = {quote}{name}{quote}")
    found = sorted(found, key=lambda mv: int(mv.version), reverse=True)
    return [version_record(client, mv, aliases.get(str(mv.version), [])) for mv in found]


def _cell(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def versions_table(name: str, versions: list[dict[str, Any]]) -> str:
    """:func:`model_versions` as a plain-text table, one line per version (newest first)."""
    head = ("version", "aliases", "config", "run", "data fingerprint", "customers", "tiered",
            "value Spearman", "value MAE", "churn AUC")  # fmt: skip
    rows = []
    for v in versions:
        m = v["metrics"]
        run = (v["run_id"] or "–")[:12]
        if v["run_status"] not in (None, "FINISHED"):
            run += f" ({v['run_status']})"
        rows.append((v["version"], ", ".join(v["aliases"]) or "–", v["config_name"] or "?", run,
                     v["data_fingerprint"] or "–", _cell(m["features.rows"], ",.0f"),
                     _cell(m["tiers.concentration.customers"], ",.0f"),
                     _cell(m["value.test.spearman"], ".3f"), _cell(m["value.test.mae"], ",.0f"),
                     _cell(m["churn.test.roc_auc"], ".3f")))  # fmt: skip
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    right = set(range(5, len(head)))  # numbers line up on the right

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()  # fmt: skip

    title = f"{name}: {len(versions)} version(s), newest first"
    return "\n".join([title, line(head), *(line(r) for r in rows)])


def promote(
    client: MlflowClient,
    name: str = MODEL_NAME,
    *,
    version: str | None = None,
    source_alias: str = "challenger",
    alias: str = "champion",
    config_name: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Point ``alias`` (champion) at ``version``, or at the version ``source_alias`` names.

    Parameters
    ----------
    client : MlflowClient
    name : str
        Registered model name.
    version : str, optional
        The version to promote; default: the one ``source_alias`` names.
    source_alias, alias : str
        The alias to promote from (``challenger``) and the alias moved (``champion``).
    config_name : str, optional
        The ``name`` of the config the version must come from (tag ``segml.config_name`` of
        its run); None: any.
    force : bool
        Promote a version of another config's run (or of a run that names none) all the same.

    Returns
    -------
    dict
        ``name``, ``alias``, ``version``, ``previous_version``, ``model_uri``,
        ``config_name`` (the version's) and ``forced`` (its config differs, promoted by force).

    Raises
    ------
    LookupError
        When the model, the version or the source alias does not exist, or the version's run
        did not finish (:func:`check_run_finished`); :class:`OtherConfigError` when the version
        comes from another config than ``config_name`` and not ``force``.
    """
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        raise LookupError(_no_model(client, name)) from exc
    if version is None:
        if source_alias not in model.aliases:
            raise LookupError(f"{name} has no alias {source_alias!r} (aliases: {sorted(model.aliases)})")  # fmt: skip
        version = str(model.aliases[source_alias])
    try:
        mv = client.get_model_version(name, version)
    except MlflowException as exc:
        raise LookupError(f"{name} has no version {version}") from exc
    check_run_finished(client, mv)
    run = segml_run(client, mv)
    made_by = None if run is None else run.data.tags.get("segml.config_name")
    other = config_name is not None and made_by != config_name
    if other and not force:
        made = f"a run of config {made_by!r}" if made_by else "a run that names no config"
        rid = f" (run {run.info.run_id})" if run is not None else ""
        raise OtherConfigError(f"{name} version {version} was made by {made}{rid}, not by one of config {config_name!r}")  # fmt: skip
    previous = model.aliases.get(alias)
    client.set_registered_model_alias(name, alias, version)
    return {"name": name, "alias": alias, "version": str(version),
            "previous_version": None if previous is None else str(previous),
            "model_uri": f"models:/{name}@{alias}", "config_name": made_by,
            "forced": bool(other)}  # fmt: skip
