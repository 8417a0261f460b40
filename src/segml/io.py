"""Reading a folder of contract tables (Parquet or CSV) into DuckDB, and writing outputs safely.

A bank's extract is a folder with one file (or one folder of Parquet parts) per contract table:
``customers.parquet``, ``accounts.csv``, ``transactions/part-0001.parquet`` and so on. A
:class:`TableMapping` maps the bank's own file, column and code names onto the contract, so the
extract itself never has to be edited. Nothing here writes to the input folder.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from segml.contract import CONTRACT, ColumnSpec, TableSpec
from segml.tables import csv_separator

#: File name endings recognised for a table, in order of preference.
SUFFIXES = (".parquet", ".csv", ".csv.gz", ".csv.zst", ".tsv")


@dataclass(frozen=True)
class TableMapping:
    """How one of the bank's tables maps onto a contract table.

    Parameters
    ----------
    file : str, optional
        File or folder name inside the data folder (default: the contract table's name with
        any recognised suffix).
    columns : mapping
        Contract column name -> the bank's column name.
    values : mapping
        Contract column name -> {bank code: contract value}, e.g. product codes.
    """

    file: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def load_mapping(source: str | os.PathLike[str] | Mapping | None) -> dict[str, TableMapping]:
    """Read a mapping from YAML (a path) or a plain dict: ``{table: {file, columns, values}}``."""
    if source is None:
        return {}
    raw = source
    if not isinstance(source, Mapping):
        if not Path(source).is_file():
            raise ValueError(f"mapping file {source} does not exist")
        raw = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
    out: dict[str, TableMapping] = {}
    for table, spec in dict(raw).items():
        if table not in CONTRACT:
            raise ValueError(
                f"mapping names table {table!r}, which the contract does not have "
                f"(tables: {', '.join(CONTRACT)})"
            )
        spec = spec or {}
        unknown = set(spec) - {"file", "columns", "values"}
        if unknown:
            raise ValueError(f"mapping for {table!r} has unknown keys {sorted(unknown)}")
        cols = dict(spec.get("columns") or {})
        for col in list(cols) + list(spec.get("values") or {}):
            try:
                CONTRACT[table].column(col)
            except KeyError as exc:  # its message names the table and the column
                raise ValueError(f"mapping for {table!r}: {exc.args[0]}") from None
        out[table] = TableMapping(spec.get("file"), cols, dict(spec.get("values") or {}))
    return out


def locate_table(folder: Path, table: str, mapping: TableMapping | None = None) -> list[Path]:
    """Return the files of ``table`` in ``folder`` (empty if absent).

    Raises
    ------
    ValueError
        If the table exists in two formats (e.g. ``customers.csv`` and ``customers.parquet``).
    """
    folder = Path(folder)
    if mapping is not None and mapping.file:
        path = folder / mapping.file
        if not path.exists():
            return []
        return _parts(path) if path.is_dir() else [path]
    found = [folder / f"{table}{s}" for s in SUFFIXES if (folder / f"{table}{s}").is_file()]
    part_dir = folder / table
    if part_dir.is_dir() and _parts(part_dir):
        found.append(part_dir)
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"table {table!r} is present more than once in {folder}: {names}")
    if not found:
        return []
    return _parts(found[0]) if found[0].is_dir() else found


def _parts(folder: Path) -> list[Path]:
    """A table's parts in ``folder``: its Parquet files, else its CSV files, in name order."""
    return sorted(folder.glob("*.parquet")) or sorted(folder.glob("*.csv"))


def _sql_str(s: str | os.PathLike[str]) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def reader_sql(files: list[Path]) -> str:
    """DuckDB table function reading ``files`` (Parquet natively, CSV as text to check types)."""
    lst = "[" + ", ".join(_sql_str(f) for f in files) + "]"
    if all(f.suffix == ".parquet" for f in files):
        return f"read_parquet({lst}, union_by_name = true)"
    delim = _sql_str(csv_separator(files[0]))  # commas, or ; tabs | recognised from the header
    return (
        f"read_csv({lst}, header = true, all_varchar = true, delim = {delim}, union_by_name = true)"
    )


def quote(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def cast_sql(expr: str, col: ColumnSpec) -> str:
    """SQL that casts a raw column to the contract type, NULL where the value does not parse."""
    if col.dtype in ("id", "string", "category"):
        return f"CAST({expr} AS VARCHAR)"
    if col.dtype == "int":  # NULL (a type error) for 12.5: never rounded silently
        num = f"TRY_CAST({expr} AS DOUBLE)"
        return (
            f"CASE WHEN {num} = floor({num}) THEN "
            f"COALESCE(TRY_CAST({expr} AS BIGINT), TRY_CAST({num} AS BIGINT)) END"
        )
    if col.dtype == "float":
        return f"TRY_CAST({expr} AS DOUBLE)"
    if col.dtype == "bool":
        return f"TRY_CAST({expr} AS BOOLEAN)"
    if col.dtype == "date":
        return f"COALESCE(TRY_CAST({expr} AS DATE), CAST(TRY_CAST({expr} AS TIMESTAMP) AS DATE))"
    if col.dtype == "timestamp":
        return f"TRY_CAST({expr} AS TIMESTAMP)"
    raise ValueError(f"unknown dtype {col.dtype}")


@dataclass(frozen=True)
class TableSource:
    """A contract table found in a folder and registered in DuckDB.

    ``raw_view`` has the bank's columns renamed to contract names, untouched; ``view`` (named
    after the table) has the contract's typed columns. ``missing`` lists required contract
    columns the extract lacks; ``absent`` lists optional ones (typed as NULL in ``view``);
    ``case_matched`` maps contract columns to the extract's columns named alike but for case.
    """

    spec: TableSpec
    files: tuple[Path, ...]
    raw_view: str
    view: str
    present: tuple[str, ...]
    missing: tuple[str, ...]
    absent: tuple[str, ...]
    source_columns: tuple[str, ...] = ()
    renamed: Mapping[str, str] = field(default_factory=dict)
    case_matched: Mapping[str, str] = field(default_factory=dict)


_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parquet_time_zones(files: list[Path]) -> dict[str, str]:
    """Source column -> time zone of the zone-aware timestamp columns of Parquet ``files``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    zones: dict[str, str] = {}
    for f in files:
        if f.suffix != ".parquet":
            continue
        for fld in pq.read_schema(f):
            if pa.types.is_timestamp(fld.type) and fld.type.tz and fld.name not in zones:
                zones[fld.name] = fld.type.tz
    return zones


def wall_clock_sql(expr: str, zone: str) -> str:
    """DuckDB SQL: a zone-aware timestamp as the wall-clock time it was written in ``zone``.

    A purchase stored as ``2022-06-26 05:54:52+08:00`` (Asia/Shanghai) falls on 26 June
    whatever the machine's time zone; converting it to UTC would move it to 25 June. Needs the
    session time zone UTC (:func:`connect` sets it) for fixed offsets such as ``+08:00``.
    """
    if m := _OFFSET.match(zone):
        minutes = (1 if m[1] == "+" else -1) * (int(m[2]) * 60 + int(m[3]))
        return f"(CAST({expr} AS TIMESTAMP) + INTERVAL ({minutes}) MINUTE)"
    return f"timezone({_sql_str(zone)}, {expr})"


def source_column(name: str, columns: list[str], mapping: TableMapping) -> str:
    """The extract's column for contract column ``name``: as mapped, as named, or else the one
    column whose name differs only in case (``CUSTOMER_ID`` from a database export)."""
    src = mapping.columns.get(name, name)
    if src in columns or name in mapping.columns:
        return src
    alike = [c for c in columns if c.lower() == name.lower()]
    return alike[0] if len(alike) == 1 else src


def register_table(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    files: list[Path],
    mapping: TableMapping | None = None,
) -> TableSource:
    """Create the raw and typed views of one table on ``con`` and return its description."""
    mapping = mapping or TableMapping()
    src_cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader_sql(files)}").fetchall()]
    zones = parquet_time_zones(files)
    raw_parts, present, missing, absent = [], [], [], []
    case_matched: dict[str, str] = {}
    for col in spec.columns:
        src = source_column(col.name, src_cols, mapping)
        if src != mapping.columns.get(col.name, col.name):
            case_matched[col.name] = src
        if src in src_cols:
            expr = quote(src)
            if src in zones:  # taken at the wall-clock time written, not the host's zone
                expr = wall_clock_sql(expr, zones[src])
            if col.name in mapping.values:
                cases = " ".join(
                    f"WHEN {_sql_str(k)} THEN {_sql_str(v)}"
                    for k, v in mapping.values[col.name].items()
                )
                expr = f"CASE CAST({expr} AS VARCHAR) {cases} ELSE CAST({expr} AS VARCHAR) END"
            raw_parts.append(f"{expr} AS {quote(col.name)}")
            present.append(col.name)
        else:
            (missing if col.required else absent).append(col.name)
            raw_parts.append(f"NULL AS {quote(col.name)}")
    raw_view = f"raw_{spec.name}"
    con.execute(
        f"CREATE OR REPLACE VIEW {raw_view} AS SELECT {', '.join(raw_parts)} "
        f"FROM {reader_sql(files)}"
    )
    typed = ", ".join(f"{cast_sql(quote(c.name), c)} AS {quote(c.name)}" for c in spec.columns)
    con.execute(f"CREATE OR REPLACE VIEW {spec.name} AS SELECT {typed} FROM {raw_view}")
    return TableSource(
        spec,
        tuple(files),
        raw_view,
        spec.name,
        tuple(present),
        tuple(missing),
        tuple(absent),
        tuple(src_cols),
        dict(mapping.columns),
        case_matched,
    )


def connect(
    memory_limit: str | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with segml's settings (bounded memory, spill to temp)."""
    con = duckdb.connect(":memory:")
    if memory_limit:
        con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET TimeZone = 'UTC'")  # results never depend on the host's time zone
    return con


@contextmanager
def atomic_file(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path to write; it replaces ``out`` only on success.

    The parent folder is created; a failure leaves ``out`` as it was and no temporary file.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_output_dir(out: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Write into a temporary sibling folder and move it to ``out`` only on success.

    A failure leaves no half-written ``out`` behind. An existing non-empty ``out`` is refused
    unless ``overwrite`` is set, so nothing a user made is lost by accident.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def check_output_path(
    out: str | os.PathLike[str],
    inputs: Mapping[str, str | os.PathLike[str] | None],
    option: str = "--out",
    *,
    new_entries: bool = False,
) -> None:
    """Refuse an output path that would write over something the user gave as input.

    ``out`` may not be one of the ``inputs`` (the same file, also through a link), lie inside an
    input folder (a bank's extract) or be a folder that holds an input (unless ``new_entries``:
    a folder into which only new, uniquely named entries are written, such as the runs' output
    folder).

    Parameters
    ----------
    out : path
        Where a command is about to write.
    inputs : mapping of str to path
        What the user gave, by the option that named it (``{"--table": path}``); None values
        are skipped.
    option : str, default "--out"
        The option that named ``out``, for the message.
    new_entries : bool, default False
        ``out`` is a folder that only receives new entries: holding an input is fine.

    Raises
    ------
    ValueError
        Naming the option, the path and the input it would overwrite.
    """
    target = Path(out).expanduser().resolve()
    for name, given in inputs.items():
        if given is None:
            continue
        source = Path(given).expanduser().resolve()
        same = target == source or (
            target.exists() and source.exists() and os.path.samefile(target, source)
        )
        if same:
            what = f"is the input {name} {given}"
        elif source.is_dir() and source in target.parents:
            what = f"is inside the input folder {name} {given}"
        elif not new_entries and target.is_dir() and target in source.parents:
            what = f"holds the input {name} {given}"
        else:
            continue
        raise ValueError(
            f"{option} {out} {what}: segml never writes over its inputs; choose another path"
        )


def check_can_create(path: str | os.PathLike[str], option: str) -> None:
    """Refuse ``path`` when it cannot be created: a file on the way, or no permission.

    The nearest existing folder above ``path`` must be a folder this process may write in.

    Raises
    ------
    ValueError
        Naming ``option``, the path and the obstacle.
    """
    path = Path(path)
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ValueError(f"{option} {path} cannot be created: {above} is a file, not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path} cannot be written: no permission in {above}")
