"""The exported model: one MLflow pyfunc model, registered as the config's
``export.model_name`` (``segml-tiering`` by default).

:func:`log_tiering_model` logs a :class:`~segml.serving.bundle.TieringBundle` as an MLflow
"model from code" (``model_code.py`` sets :class:`TieringModel`; the bundle's JSON files are its
artifacts; no pickle anywhere), with its signature, a privacy-safe input example (typical rows
made of per-column medians and most frequent categories, not real customers), the TierPolicy and
feature version as metadata, and explicit pinned ``pip_requirements`` (no ~2 s inference per
logged model). The model ships on its own: segml's source travels in the model's ``code/``
folder (MLflow's ``code_paths``, put first on ``sys.path`` when the model loads) and its
requirements pin segml's runtime dependencies, so it loads in a fresh virtual environment that
never installed segml — ``mlflow models serve --env-manager virtualenv`` (or ``uv``),
``mlflow models build-docker`` and ``mlflow.pyfunc.spark_udf`` on a cluster. The new version gets the alias ``challenger``;
:func:`segml.serving.registry.promote` moves ``champion`` after a review (aliases, not the
deprecated stages).

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
import shutil
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

import segml
from segml.serving.bundle import OPTIONAL_TEXT, TieringBundle
from segml.serving.schema import ID_COLUMN

__all__ = [
    "MODEL_NAME",
    "Refusal",
    "TieringModel",
    "log_tiering_model",
    "model_signature",
    "requirements",
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


def segml_code(folder: Path) -> Path:
    """A copy of the installed segml package in ``folder/segml`` (no bytecode caches).

    Logged as the model's ``code_paths``: the model imports segml from it wherever it loads.
    """
    source = Path(__file__).resolve().parents[1]
    return Path(shutil.copytree(source, folder / "segml",
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc")))  # fmt: skip


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
            code_paths=[str(segml_code(Path(tmp)))],
            registered_model_name=name,
            metadata={
                "segml_version": segml.__version__,
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
