"""Locating a folder's contract tables (Parquet or CSV, a file or a folder of parts) and
registering them in DuckDB as typed views; nothing here writes to the input folder."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from segml.contract import ColumnSpec, TableSpec
from segml.io.mapping import TableMapping
from segml.tables import csv_header, csv_separator

#: File name endings recognised for a table, in order of preference.
SUFFIXES = (".parquet", ".csv", ".csv.gz", ".csv.zst", ".tsv")


class TableLocationError(ValueError):
    """A table's file cannot be used as found; ``rule`` names why (as a validation rule).

    ``ambiguous_table``: present in two formats; ``not_a_file``: a folder where a file was
    expected; ``symlink_loop``: a symbolic link that leads back to itself; ``broken_link``: a
    symbolic link to nothing; ``unreadable``: the file system refuses to look (permissions).
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def path_kind(path: Path) -> str | None:
    """``"file"``, ``"dir"`` or None (nothing there) for ``path``, following links.

    Raises
    ------
    TableLocationError
        For a symbolic link loop, a link to nothing, or a path the file system refuses to look
        at (the message names the path).
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TableLocationError(
                "symlink_loop", f"{path} is a symbolic link loop (it leads back to itself)"
            ) from None
        if os.path.islink(path):
            target = os.readlink(path)
            raise TableLocationError(
                "broken_link", f"{path} is a symbolic link to {target}, which is not there"
            ) from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise TableLocationError("unreadable", f"cannot read {path}: {exc.strerror}") from None
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def locate_table(folder: Path, table: str, mapping: TableMapping | None = None) -> list[Path]:
    """Return the files of ``table`` in ``folder`` (empty if absent).

    A file named after the table (``customers.parquet``) may also be a folder of parts (a
    Parquet dataset as Spark writes it); a folder named so without parts is an error.

    Raises
    ------
    TableLocationError
        If the table exists in two formats (e.g. ``customers.csv`` and ``customers.parquet``),
        a file name is a folder without parts, or a candidate path is a symbolic link loop or
        leads nowhere. Its message names the path; its ``rule`` says which.
    """
    folder = Path(folder)
    if mapping is not None and mapping.file:
        path = folder / mapping.file
        kind = path_kind(path)
        if kind is None:
            return []
        return _parts(path) if kind == "dir" else [path]
    found = []
    for path in [folder / f"{table}{s}" for s in SUFFIXES] + [folder / table]:
        kind = path_kind(path)
        if kind == "file" or (kind == "dir" and _parts(path)):
            found.append(path)
        elif kind == "dir" and path.name != table:
            raise TableLocationError(
                "not_a_file",
                f"{path} is a folder, not a file, and holds no .parquet or .csv parts: give "
                f"the {table} table as one file, or as a folder of parts",
            )
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise TableLocationError(
            "ambiguous_table", f"table {table!r} is present more than once in {folder}: {names}"
        )
    if not found:
        return []
    return _parts(found[0]) if found[0].is_dir() else found


def _parts(folder: Path) -> list[Path]:
    """A table's parts in ``folder``: its Parquet files, else its CSV files, in name order.

    Raises
    ------
    TableLocationError
        If a part is a symbolic link loop or leads nowhere.
    """
    parts = sorted(folder.glob("*.parquet")) or sorted(folder.glob("*.csv"))
    for part in parts:
        path_kind(part)
    return parts


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
    ``case_matched`` maps contract columns to the extract's columns named alike but for case,
    surrounding spaces or control characters (:func:`header_key`).
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


def header_key(name: str) -> str:
    """A header as compared with contract names: control and format characters (NUL, tabs,
    zero-width spaces, a byte-order mark) removed, surrounding spaces stripped, lower case."""
    kept = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    return kept.strip().lower()


def source_column(name: str, columns: list[str], mapping: TableMapping) -> str:
    """The extract's column for contract column ``name``: as mapped, as named, or else the one
    column whose name differs only in case (``CUSTOMER_ID`` from a database export),
    surrounding spaces or control characters (``employees\\0``, `` age ``, ``balance\\t``)."""
    src = mapping.columns.get(name, name)
    if src in columns or name in mapping.columns:
        return src
    alike = [c for c in columns if header_key(c) == name.lower()]
    return alike[0] if len(alike) == 1 else src


def written_headers(files: list[Path], columns: list[str]) -> dict[str, str]:
    """Column -> its header as written, for the CSV headers DuckDB reads trimmed of spaces
    (`` age `` is read as ``age``), so that a message can name the header as written."""
    first = next((f for f in files if f.suffix != ".parquet"), None)
    if first is None:
        return {}
    header = csv_header(first)
    return {
        name: h
        for h in header
        for name in {h.strip(" "), h.strip()}
        if name != h and name in columns and name not in header
    }


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
    written = written_headers(files, src_cols)
    raw_parts, present, missing, absent = [], [], [], []
    case_matched: dict[str, str] = {}
    for col in spec.columns:
        src = source_column(col.name, src_cols, mapping)
        if src in src_cols and written.get(src, src) != mapping.columns.get(col.name, col.name):
            case_matched[col.name] = written.get(src, src)
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
    """An in-memory DuckDB connection with segml's settings (bounded memory, spill to temp).

    Spilled data goes to ``segml-duckdb`` in the system's temporary folder (``TMPDIR``), not
    to DuckDB's default ``.tmp`` in the working directory, which would litter the user's
    project (and its ``git status``) whenever a large bank spills.
    """
    con = duckdb.connect(":memory:")
    spill = Path(tempfile.gettempdir()) / "segml-duckdb"
    con.execute(f"SET temp_directory = {_sql_str(str(spill))}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET TimeZone = 'UTC'")  # results never depend on the host's time zone
    disable_slow_optimizers(con)
    return con


#: DuckDB optimizers segml turns off. ``partitioned_execution`` (DuckDB 2.0) splits a
#: ``GROUP BY customer_id`` over a Parquet file whose row groups are sorted by the key into
#: one scan and one aggregate per key range (15 on a 1M-customer bank's 144.5M transactions,
#: one below ~100,000 customers). Here that is 2.6x slower in all: one feature build's
#: transaction families took 83 s with it and 32 s without, the same rows to the bit
#: (docs/scaling.md). Results never depend on an optimizer.
SLOW_OPTIMIZERS = ("partitioned_execution",)


def disable_slow_optimizers(con: duckdb.DuckDBPyConnection) -> None:
    """Turn off :data:`SLOW_OPTIMIZERS` on ``con`` (those this DuckDB version has)."""
    known = {r[0] for r in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    off = [o for o in SLOW_OPTIMIZERS if o in known]
    if off:
        con.execute(f"SET disabled_optimizers = {_sql_str(','.join(off))}")
