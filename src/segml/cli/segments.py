"""``segml segment``: behavioural segments of any customer table (CSV or Parquet).

:func:`segment_command` is a typer command function; ``segml.cli.main`` registers it. Exit codes as
the rest of the command line: 0 success; 1 the table cannot be read or segmented (the message
names the file or column: the id, ``--by``, ``--exclude`` or ``--value`` column); 2 bad usage
(``--k``, ``--out`` suffix, ``--method``). Progress (each step, each candidate k) goes to
stderr when it is a terminal, or with ``--progress``; ``--no-progress`` silences it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from segml.io import atomic_file, check_output_file, check_output_path, output_error
from segml.segments.cluster import METHODS
from segml.segments.result import SegmentationResult
from segml.tables import read_table, write_csv

WRITERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def write_assignments(frame: pd.DataFrame, out: Path) -> Path:
    """Write ``frame`` to ``out`` (CSV or Parquet by suffix) atomically: temporary file, rename.

    A CSV goes through :func:`segml.tables.write_csv` (text a spreadsheet would run as a formula
    gets a leading ``'``); Parquet keeps every value as it is.

    Raises
    ------
    segml.io.OutputError
        When the file system refuses (disk full, quota, read-only): names ``out`` and the cause.
    """
    kind = WRITERS[out.suffix.lower()]
    with atomic_file(out) as tmp:
        if kind == "csv":
            write_csv(frame, tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return out


def _say(message: str) -> None:
    """A progress line on stderr: ``segment: fitting (k=3, 2/9 of k=2..10, 8,950 rows)``."""
    typer.echo(f"segment: {message.strip().removeprefix('›').strip()}", err=True)


def _progress(wanted: bool | None) -> contextlib.AbstractContextManager[None]:
    """Announce the steps on stderr: when asked, or by default when stderr is a terminal."""
    from segml.progress import reporting

    if wanted is None:
        wanted = sys.stderr.isatty()
    return reporting(_say, bars=False) if wanted else contextlib.nullcontext()


def _parse_k(k: str) -> int | str:
    if k.strip().lower() == "auto":
        return "auto"
    try:
        value = int(k)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"--k must be 'auto' or a positive integer, got {k!r}")
    return value


def segment_command(
    id: Annotated[str, typer.Option("--id", help="Identifier column (unique per row).")],
    table_arg: Annotated[
        Path | None,
        typer.Argument(
            metavar="[TABLE]", help="Customer table (same as --table).", show_default=False
        ),
    ] = None,
    table_opt: Annotated[
        Path | None,
        typer.Option("--table", help="Customer table, CSV or Parquet: one row per customer."),
    ] = None,
    k: Annotated[str, typer.Option(help="Number of segments, or 'auto' to choose it.")] = "auto",
    out: Annotated[
        Path | None,
        typer.Option(help="Write the id and segment of each customer (.csv or .parquet)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed (same seed: same segments).")] = 0,
    method: Annotated[str, typer.Option(help="mixed (default), gmm or kmeans.")] = "mixed",
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="Column never used (repeatable); demographic columns never are."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(help="Segment each value of this column separately (e.g. customer_type)."),
    ] = None,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="Numeric column of customer value: each segment's share of its total and its "
            "mean per customer (default: profit_12m, value, clv, ... when present).",
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress on stderr (default: when stderr is a terminal).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Segment the customers of TABLE by behaviour; name and profile each segment."""
    if (table_arg is None) == (table_opt is None):
        raise _fail("give the customer table once: --table FILE (or as the argument)", 2)
    table = table_arg if table_arg is not None else table_opt
    assert table is not None

    try:
        k_value = _parse_k(k)
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    if method not in METHODS:
        raise _fail(f"--method must be one of {', '.join(METHODS)}, got {method!r}", 2)
    if out is not None and out.suffix.lower() not in WRITERS:
        raise _fail(f"--out must end in .csv or .parquet, got {out}", 2)
    if out is not None:
        try:
            check_output_path(out, {"--table": table})
            check_output_file(out, "--out")
        except ValueError as exc:
            raise _fail(str(exc), 2) from exc
    options = {"k": k_value, "method": method, "seed": seed, "exclude": exclude, "by": by}
    # keep stdout for the one JSON object: anything a library prints goes to stderr
    redirect = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    with _progress(progress), redirect:
        result = _read_and_segment(table, id, value, **options)
    if out is not None:
        frame = result.assignments[[result.id_col, "segment"]]
        try:
            write_assignments(frame, out)
        except OSError as exc:  # a full disk: named, and nothing half-written is left
            raise _fail(str(output_error(exc, out))) from exc
    if json_out:
        info = result.to_dict()
        if out is not None:
            info["out"] = str(out)
        typer.echo(json.dumps(info, indent=2, default=str))
    else:
        typer.echo(result.summary())
        if out is not None:
            typer.echo(f"wrote {out}: {len(result.assignments):,} customers")


def _read_and_segment(
    table: Path,
    id: str,
    value: str | None,
    *,
    k: int | str,
    method: str,
    seed: int,
    exclude: list[str] | None,
    by: str | None,
) -> SegmentationResult:
    """Read the table, check the columns named on the command line, segment it."""
    from segml.progress import step
    from segml.segments.api import DEMOGRAPHIC_COLUMNS, segment_table, value_numbers
    from segml.segments.strata import segment_strata

    try:
        with step("reading", str(table)):
            df = read_table(table, text=[id])
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    shown = ", ".join(map(str, list(df.columns)[:15]))
    if id not in df.columns:
        raise _fail(f"{table} has no id column {id!r} (columns: {shown})")
    if by is not None and by not in df.columns:
        raise _fail(f"{table} has no --by column {by!r} (columns: {shown})")
    unknown = [c for c in exclude or [] if c not in df.columns]
    if unknown:
        raise _fail(f"{table} has no --exclude column(s) {unknown} (columns: {shown})")
    if value is not None:
        try:  # checked before the long fit
            value_numbers(df, value, "--value column")
        except ValueError as exc:
            raise _fail(f"{table}: {exc}") from exc
    options: dict[str, Any] = {
        "method": method,
        "exclude": [*DEMOGRAPHIC_COLUMNS, *exclude] if exclude else None,
        "seed": seed,
        "value_col": "auto" if value is None else value,
    }
    try:
        if by is None:
            return segment_table(df, id, k, **options)
        return segment_strata(df, id, by, k, **options)
    except ValueError as exc:
        raise _fail(f"{table}: {exc}") from exc
