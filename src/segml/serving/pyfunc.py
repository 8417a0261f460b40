"""The exported model: one MLflow pyfunc model, registered as the config's
``export.model_name`` (``segml-tiering`` by default).

:func:`log_tiering_model` logs a :class:`~segml.serving.bundle.TieringBundle` as an MLflow
"model from code" (``model_code.py`` sets :class:`TieringModel`; the bundle's JSON files are its
artifacts; no pickle anywhere), with its signature, a privacy-safe input example (typical rows
made of per-column medians and most frequent categories, not real customers), the TierPolicy and
feature version as metadata, and explicit pinned ``pip_requirements`` (no ~2 s inference per
logged model). The new version gets the alias ``challenger``; :func:`promote` moves ``champion``
after a review (aliases, not the deprecated stages), refusing a version that another config's
run made; :func:`model_versions` lists the versions a reviewer chooses from.

Bad input reaches the caller (and an HTTP client of ``mlflow models serve``) as an
``MlflowException`` with ``INVALID_PARAMETER_VALUE`` (HTTP 400) naming the column
(:class:`Refusal`: segml's message, first and alone). The signature declares every input
column optional, so that MLflow's own signature check, which runs before the model and puts a
dump of the whole request and of the ~95-column schema before the column it misses, lets a
table with missing columns through to segml's check (``features lack 2 required columns: …``);
the columns' types stay declared, and MLflow still converts them.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from mlflow.tracking import MlflowClient
from mlflow.types.schema import AnyType, ColSpec, DataType, Schema

from segml.serving.bundle import OPTIONAL_TEXT, TieringBundle
from segml.serving.schema import ID_COLUMN

__all__ = [
    "MODEL_NAME",
    "VERSION_METRICS",
    "OtherConfigError",
    "Refusal",
    "TieringModel",
    "check_run_finished",
    "log_tiering_model",
    "model_signature",
    "model_versions",
    "promote",
    "requirements",
    "segml_run",
    "version_record",
    "versions_table",
]

MODEL_NAME = "segml-tiering"
MODEL_CODE = Path(__file__).with_name("model_code.py")
_log = logging.getLogger(__name__)


class Refusal(MlflowException):
    """segml's refusal of a request: its ``message`` stays segml's.

    MLflow's scoring server rewrites the ``message`` of an exception from predict to
    ``Failed to predict data '<the whole request as a table>'. Error: <message>``, which puts
    kilobytes of the client's own rows before what is wrong; that rewrite is kept aside in
    :attr:`context` and the client gets segml's message (first line: what is wrong).
    """

    context: str | None = None

    @property
    def message(self) -> str:
        """segml's message."""
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        if hasattr(self, "_message"):
            self.context = value
        else:
            self._message = value


class TieringModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of :class:`TieringBundle` (artifact ``bundle``)."""

    def load_context(self, context: Any) -> None:
        """Read the bundle from the model's artifacts."""
        self.bundle = TieringBundle.load(context.artifacts["bundle"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # fmt: skip
        """Tier, value score, CLV, churn probability, segment, grade and reason codes per row.

        Thread-safe: the server's request threads share one model, which predict never changes
        (thread counts are set when it is loaded: :mod:`segml.boosters`).

        A closed relationship (``is_active = 0``) gets no tier and ``not_tiered`` saying why
        (:meth:`TieringBundle.predict`).

        Raises
        ------
        Refusal
            ``INVALID_PARAMETER_VALUE`` (HTTP 400) naming the column and rows of an input the
            contract refuses (missing columns first: ``features lack 1 required column: …``);
            ``INTERNAL_ERROR`` (HTTP 500) for anything else, with the error's type only (its
            details and stack trace go to the server's log, not to the client).
        """
        try:
            return self.bundle.predict(pd.DataFrame(model_input))
        except ValueError as exc:  # InputError, or a model refusing a value (names the column)
            raise Refusal(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
        except Exception as exc:
            _log.exception("segml-tiering could not score a request")
            raise Refusal(
                f"the model could not score this input ({type(exc).__name__}); the server's log "
                "has the details", error_code=INTERNAL_ERROR,
            ) from exc  # fmt: skip


def requirements() -> list[str]:
    """segml's runtime dependencies pinned to the versions installed here."""
    out = []
    for spec in requires("segml") or []:
        if "extra ==" in spec:
            continue
        name = spec.split(">")[0].split("=")[0].split("<")[0].split(";")[0].strip()
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(spec)
    return out


def typical_rows(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One made-up row per customer type: lower medians and most frequent categories.

    Each value is one some customer has, but the row is no real customer's.
    """
    rows = []
    for kind, part in features.groupby("customer_type", sort=True):
        row: dict[str, Any] = {}
        for c in columns:
            s = part[c]
            if c == ID_COLUMN:
                row[c] = f"example-{kind}"
            elif pd.api.types.is_numeric_dtype(s):
                # the lower median is a value some customer has (whole counts stay whole)
                row[c] = (
                    float(s.quantile(0.5, interpolation="lower")) if s.notna().any() else np.nan
                )
            else:
                mode = s.dropna().astype(str).mode()
                row[c] = mode.iloc[0] if len(mode) else None
        rows.append(row)
    out = pd.DataFrame(rows, columns=columns)
    for c in columns:  # the feature table's types: counts stay integers in the signature
        kind = features[c].dtype.kind
        if kind in "iu" and out[c].notna().all():
            out[c] = out[c].astype("int64")
        elif kind == "b":
            out[c] = out[c].astype(bool)
    return out


def model_signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """The signature inferred from the input example and its output, every input optional.

    Inputs keep their inferred types but are declared optional: MLflow's check of required
    inputs runs before the model and answers a missing column with kilobytes of the request
    and the schema before naming it, while segml's own check (``InputSchema.check``) names
    every missing column first. Outputs other than ``customer_id`` are optional too (a closed
    relationship has no tier, ``not_tiered`` is null for a tiered one); text outputs whose
    example values are all missing are declared ``string``.
    """
    with warnings.catch_warnings():
        # counts are integers in the feature table and never missing (0 when none): MLflow's
        # hint about missing values in integer columns does not apply to them
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        inferred = mlflow.models.infer_signature(example, output)
    assert inferred.inputs is not None and inferred.outputs is not None
    inputs = [ColSpec(c.type, c.name, required=False) for c in inferred.inputs.inputs]
    outputs = [
        ColSpec(DataType.string if c.name in OPTIONAL_TEXT and isinstance(c.type, AnyType) else c.type,
                c.name, required=c.name == ID_COLUMN)
        for c in inferred.outputs.inputs
    ]  # fmt: skip
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def log_tiering_model(
    bundle: TieringBundle,
    features: pd.DataFrame,
    *,
    name: str = MODEL_NAME,
    alias: str | None = "challenger",
    artifact_name: str = "segml-tiering",
) -> dict[str, Any]:
    """Log ``bundle`` to the active MLflow run, register it as ``name`` and set ``alias``.

    Parameters
    ----------
    bundle : TieringBundle
    features : DataFrame
        The run's feature table (only per-column medians and modes reach the input example).
    name : str
        Registered model name.
    alias : str, optional
        Alias of the new version (``challenger``).

    Returns
    -------
    dict
        ``model_uri`` (``models:/name/version``), ``name``, ``version``, ``alias``,
        ``run_id``.
    """
    assert bundle.schema is not None
    example = typical_rows(features, bundle.schema.columns)
    output = bundle.predict(example)  # checks the example against the input contract too
    signature = model_signature(example, output)
    with tempfile.TemporaryDirectory(prefix="segml-bundle-") as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        folder = bundle.save(Path(tmp) / "bundle")
        info = mlflow.pyfunc.log_model(
            name=artifact_name,
            python_model=str(MODEL_CODE),
            artifacts={"bundle": str(folder)},
            signature=signature,
            input_example=example,
            pip_requirements=requirements(),
            registered_model_name=name,
            metadata={
                "tier_policy": bundle.policy.to_dict(),
                "features_version": bundle.features_version,
                "segml_run_id": bundle.run_id,
                "top_k": bundle.top_k,
            },
        )
    client = MlflowClient()
    ver = str(info.registered_model_version)
    if bundle.run_id:  # the segml run (parent of the export stage that logged it)
        client.set_model_version_tag(name, ver, "segml.run_id", bundle.run_id)
    client.set_model_version_tag(name, ver, "features_version", bundle.features_version)
    client.set_model_version_tag(name, ver, "tier_policy", f"{bundle.policy.name} v{bundle.policy.version}")  # fmt: skip
    if alias:
        client.set_registered_model_alias(name, alias, ver)
    return {"model_uri": f"models:/{name}/{ver}", "name": name, "version": ver, "alias": alias,
            "run_id": info.run_id}  # fmt: skip


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
