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
from typing import Annotated

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
    names counted in the whole file (from 0), or the chunk's rows when it names none."""
    from segml.serving.guards import RowsError

    cause = exc.__cause__
    if isinstance(cause, RowsError) and len(cause.rows):
        return f"{features}: {cause.at(first)}"
    message = getattr(exc, "message", str(exc))
    return f"{features}, rows {first}-{first + rows - 1}: {message}"


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
    """Score a Parquet feature table in chunks with the exported model; write Parquet."""
    import mlflow
    import pyarrow as pa
    import pyarrow.parquet as pq
    from mlflow.exceptions import MlflowException

    if out.exists():
        raise _fail(f"{out} exists; choose another --out", 2)
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise _fail(f"--out must end in .parquet (scores are written as Parquet): {out}", 2)
    from segml.io import check_output_file, check_output_path, output_error

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
    total = source.metadata.num_rows
    schema = loaded.metadata.get_input_schema()
    wanted = set(schema.input_names()) if schema is not None else None
    if wanted is not None:
        lacking = sorted(wanted - set(source.schema_arrow.names))
        if lacking:
            shown = ", ".join(lacking[:20]) + (f" and {len(lacking) - 20} more" if len(lacking) > 20 else "")  # fmt: skip
            raise _fail(f"{features} lacks {len(lacking)} column(s) the model reads: {shown}")
    if total == 0:
        raise _fail(f"{features} has no rows: nothing to score, nothing written")
    tmp = out.with_name(f".{out.name}.partial")
    writer = None
    done = 0
    t1 = time.perf_counter()
    try:
        with typer.progressbar(length=total, label="scoring", file=sys.stderr) as bar:
            for batch in source.iter_batches(batch_size=chunk_size):
                frame = batch.to_pandas()
                if wanted is not None:  # only what the model reads; missing ones it names
                    frame = frame[[c for c in frame.columns if c in wanted]]
                try:
                    pred = loaded.predict(frame)
                except MlflowException as exc:
                    raise _fail(_refusal(features, exc, done, len(frame))) from exc
                table = pa.Table.from_pandas(pred, preserve_index=False)
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
    secs = time.perf_counter() - t1
    result = {"model": model, "features": str(features), "out": str(out), "rows": done,
              "load_seconds": round(load_s, 3), "score_seconds": round(secs, 3),
              "rows_per_second": round(done / secs, 1) if secs > 0 else None}  # fmt: skip
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(f"scored {done:,} rows in {secs:.1f} s ({result['rows_per_second']} rows/s) -> {out}")  # fmt: skip


def promote_command(
    name: Annotated[str, typer.Option(help="Registered model name.")] = "segml-tiering",
    version: Annotated[
        str | None, typer.Option(help="Version to promote (default: the challenger).")
    ] = None,  # fmt: skip
    source_alias: Annotated[
        str, typer.Option("--from-alias", help="Alias to promote when no --version.")
    ] = "challenger",  # fmt: skip
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "champion",
    config: Config = DEFAULT_CONFIG,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Move the champion alias to a reviewed version (the challenger by default)."""
    from mlflow.tracking import MlflowClient

    from segml.serving.pyfunc import promote

    uri = _use_store(config)
    try:
        result = promote(MlflowClient(uri), name, version=version, source_alias=source_alias, alias=alias)  # fmt: skip
    except LookupError as exc:
        raise _fail(str(exc)) from exc
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    else:
        was = result["previous_version"] or "none"
        typer.echo(f"{name}@{alias} -> version {result['version']} (was {was})")
