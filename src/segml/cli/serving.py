"""``segml score`` (batch scoring with the exported model) and ``segml promote`` (aliases).

Both read the tracking store the config names (``MLFLOW_TRACKING_URI`` wins), so
``models:/segml-tiering@champion`` resolves against the same registry ``segml run`` wrote to.
Exit codes: 0 success; 1 the model, the input or the registry refused (the message says which
column, rows or version); 2 bad usage.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["promote_command", "score_command"]

Config = Annotated[Path, typer.Option(help="Config whose tracking store holds the registry.")]
DEFAULT_CONFIG = Path("experiments/configs/default.yaml")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _use_store(config: Path) -> str:
    """Point MLflow at the config's tracking store (the environment variable wins)."""
    import mlflow

    from segml.run.config import ConfigError, load_config, project_root
    from segml.run.tracking import tracking_uri

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc), 2) from exc
    uri = tracking_uri(cfg.tracking, project_root(config))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or uri)
    return uri


def _refusal(features: Path, exc: Exception, first: int, rows: int) -> str:
    """The model's refusal of a chunk that starts at row ``first`` of ``features``: the rows it
    names counted in the whole file (from 0), or the chunk's rows when it names none.

    MLflow's own signature check puts the chunk and the whole schema before what is wrong
    (``Failed to enforce schema of data '…' with schema '…'. Error: …``): only what is wrong is
    kept."""
    from segml.serving.guards import RowsError

    cause = exc.__cause__
    if isinstance(cause, RowsError) and len(cause.rows):
        return f"{features}: {cause.at(first)}"
    message = getattr(exc, "message", str(exc))
    if message.startswith("Failed to enforce schema") and "Error: " in message:
        message = message.rsplit("Error: ", 1)[1]
    return f"{features}, rows {first}-{first + rows - 1}: {message}"


#: The Arrow types (``pyarrow.types.is_…``) each signature type takes from Parquet: what
#: MLflow's signature check converts without refusing.
_TAKES = {
    "double": ("integer", "floating", "decimal"),
    "float": ("integer", "floating", "decimal"),
    "long": ("integer",),
    "integer": ("integer",),
    "string": ("string", "large_string", "dictionary", "null"),
    "boolean": ("boolean", "null"),
}


def _column_errors(features: Path, arrow: Any, schema: Any) -> str | None:
    """What is wrong with the columns of the Parquet schema ``arrow`` for the model's input
    ``schema``, in one short line naming the columns first (missing ones, else those of the
    wrong type), or None."""
    import pyarrow as pa

    from segml.serving.schema import missing_columns

    lacking = sorted(set(schema.input_names()) - set(arrow.names))
    if lacking:
        return str(missing_columns(lacking, str(features), "lacks"))
    wrong = []
    for spec in schema.inputs:
        declared = getattr(spec.type, "name", "")  # a DataType's: double, long, string …
        takes = _TAKES.get(declared)
        kind = arrow.field(spec.name).type
        if takes and not any(getattr(pa.types, f"is_{t}")(kind) for t in takes):
            text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
            wrong.append(f"{spec.name} ({'text' if text else kind}; the model reads {declared})")
    if not wrong:
        return None
    n = len(wrong)
    shown = ", ".join(wrong[:10]) + (f" and {n - 10} more" if n > 10 else "")
    return f"{features} has {n} column{'' if n == 1 else 's'} of the wrong type: {shown}"


def _arrow(pred: Any, outputs: Any) -> Any:
    """``pred`` as an Arrow table whose columns without any value take the type the model's
    output signature declares (text otherwise), so that every chunk has the same schema."""
    import pyarrow as pa

    table = pa.Table.from_pandas(pred, preserve_index=False)
    types = {"double": pa.float64(), "long": pa.int64(), "boolean": pa.bool_()}
    declared = {c.name: types.get(getattr(c.type, "name", ""), pa.string()) for c in outputs.inputs} if outputs else {}  # fmt: skip
    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            kind = declared.get(field.name, pa.string())
            table = table.set_column(i, field.name, table.column(i).cast(kind))
    return table


def _write_scores(loaded: Any, source: Any, features: Path, out: Path, chunk_size: int) -> tuple[int, int]:  # fmt: skip
    """Score ``source`` (the Parquet file ``features``) in chunks with ``loaded``, writing
    ``out`` (all or nothing); the rows scored and how many of them got no tier.

    Raises
    ------
    typer.Exit
        Code 1 with the model's refusal (the rows counted in the file) or the path that could
        not be written; nothing is left at ``out``.
    """
    import pyarrow.parquet as pq
    from mlflow.exceptions import MlflowException

    from segml.io import output_error

    schema = loaded.metadata.get_input_schema()
    wanted = set(schema.input_names()) if schema is not None else None
    outputs = loaded.metadata.get_output_schema()
    tmp = out.with_name(f".{out.name}.partial")
    writer = None
    done = not_tiered = 0
    try:
        with typer.progressbar(length=source.metadata.num_rows, label="scoring", file=sys.stderr) as bar:  # fmt: skip
            for batch in source.iter_batches(batch_size=chunk_size):
                frame = batch.to_pandas()
                if wanted is not None:  # only what the model reads
                    frame = frame[[c for c in frame.columns if c in wanted]]
                try:
                    pred = loaded.predict(frame)
                except MlflowException as exc:
                    raise _fail(_refusal(features, exc, done, len(frame))) from exc
                if "not_tiered" in pred:  # closed relationships: no tier (the run's rule)
                    not_tiered += int(pred["not_tiered"].notna().sum())
                table = _arrow(pred, outputs)
                if writer is None:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
                done += len(frame)
                bar.update(len(frame))
        if writer is not None:
            writer.close()
            writer = None
            tmp.replace(out)
    except OSError as exc:  # a full disk, a folder that vanished: name the path, no traceback
        raise _fail(str(output_error(exc, out))) from exc
    finally:
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()
        tmp.unlink(missing_ok=True)
    return done, not_tiered


def score_command(
    model: Annotated[
        str, typer.Option("--model", help="Model URI, e.g. models:/segml-tiering@champion.")
    ],  # fmt: skip
    features: Annotated[Path, typer.Option("--features", help="Customer feature table (Parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Output Parquet file (refused if it exists).")],
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows scored at a time.")] = 100_000,
    config: Config = DEFAULT_CONFIG,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score a Parquet feature table in chunks with the exported model; write Parquet.

    One output row per input row, in input order; a closed relationship (``is_active = 0``)
    gets no tier and ``not_tiered`` saying why, as in the run.
    """
    import mlflow
    import pyarrow as pa
    import pyarrow.parquet as pq
    from mlflow.exceptions import MlflowException

    if out.exists():
        raise _fail(f"{out} exists; choose another --out", 2)
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise _fail(f"--out must end in .parquet (scores are written as Parquet): {out}", 2)
    from segml.io import check_output_file, check_output_path

    try:
        check_output_path(out, {"--features": features})
        check_output_file(out, "--out")
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    if not features.is_file():
        raise _fail(f"{features} not found")
    _use_store(config)
    t0 = time.perf_counter()
    try:
        loaded = mlflow.pyfunc.load_model(model)
    except (MlflowException, OSError) as exc:
        raise _fail(f"cannot load model {model}: {exc}") from exc
    load_s = time.perf_counter() - t0
    try:
        source = pq.ParquetFile(features)
    except (pa.ArrowException, OSError) as exc:
        raise _fail(f"{features} is not a Parquet file: {exc}") from exc
    schema = loaded.metadata.get_input_schema()
    wrong = _column_errors(features, source.schema_arrow, schema) if schema is not None else None
    if wrong:
        raise _fail(wrong)
    if source.metadata.num_rows == 0:
        raise _fail(f"{features} has no rows: nothing to score, nothing written")
    t1 = time.perf_counter()
    done, not_tiered = _write_scores(loaded, source, features, out, chunk_size)
    secs = time.perf_counter() - t1
    result = {"model": model, "features": str(features), "out": str(out), "rows": done,
              "not_tiered": not_tiered, "load_seconds": round(load_s, 3),
              "score_seconds": round(secs, 3),
              "rows_per_second": round(done / secs, 1) if secs > 0 else None}  # fmt: skip
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    closed = (f" ({not_tiered:,} not tiered: closed relationships, is_active = 0; see "
              "not_tiered)" if not_tiered else "")  # fmt: skip
    typer.echo(f"scored {done:,} rows{closed} in {secs:.1f} s ({result['rows_per_second']} rows/s) -> {out}")  # fmt: skip


def promote_command(
    name: Annotated[
        str | None,
        typer.Option(help="Registered model name (default: the config's export.model_name)."),
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Version to promote (default: the challenger).")
    ] = None,  # fmt: skip
    source_alias: Annotated[
        str, typer.Option("--from-alias", help="Alias to promote when no --version.")
    ] = "challenger",  # fmt: skip
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "champion",
    force: Annotated[
        bool, typer.Option("--force", help="Promote a version that another config's run made.")
    ] = False,
    config: Config = DEFAULT_CONFIG,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List the model's versions, then move the champion alias to a reviewed version (the
    challenger by default) that a run of this config made."""
    from mlflow.tracking import MlflowClient

    from segml.run.config import load_config
    from segml.serving.registry import OtherConfigError, model_versions, promote, versions_table

    uri = _use_store(config)  # a config that cannot be read exits 2 here
    cfg = load_config(config)
    name = name or cfg.export.model_name
    client = MlflowClient(uri)
    try:
        versions = model_versions(client, name)
    except LookupError as exc:
        raise _fail(f"{exc} in {uri}: run `segml run --config {config}` first, or give --name") from exc  # fmt: skip
    if not json_out:
        typer.echo(versions_table(name, versions))
    try:
        result = promote(client, name, version=version, source_alias=source_alias, alias=alias,
                         config_name=cfg.name, force=force)  # fmt: skip
    except OtherConfigError as exc:
        raise _fail(
            f"{exc} ({config}): promote a version of {cfg.name!r} with --version, give the "
            "config that made it with --config, or pass --force to promote it all the same"
        ) from exc
    except LookupError as exc:
        raise _fail(str(exc)) from exc
    if json_out:
        typer.echo(json.dumps({**result, "versions": versions}, indent=2, allow_nan=False))
    else:
        was = result["previous_version"] or "none"
        forced = f" (--force: a version of config {result['config_name']!r})" if result["forced"] else ""  # fmt: skip
        typer.echo(f"{name}@{alias} -> version {result['version']} (was {was}){forced}")
