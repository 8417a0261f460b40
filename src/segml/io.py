"""Reading a folder of contract tables (Parquet or CSV) into DuckDB, and writing outputs safely.

A bank's extract is a folder with one file (or one folder of Parquet parts) per contract table:
``customers.parquet``, ``accounts.csv``, ``transactions/part-0001.parquet`` and so on. A
:class:`TableMapping` maps the bank's own file, column and code names onto the contract, so the
extract itself never has to be edited. Nothing here writes to the input folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import yaml

from segml.contract import CONTRACT, ColumnSpec, TableSpec
from segml.tables import csv_header, csv_separator

T = TypeVar("T")

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


def parse_yaml(text: str, where: str) -> Any:
    """``text`` read as YAML (the safe loader).

    Parameters
    ----------
    text : str
        The YAML text: a file's content or one ``--set`` value.
    where : str
        What the text is, for the message (``"--config run.yaml"``, ``"--set tiers"``).

    Raises
    ------
    ValueError
        In one line: ``where``, the line and column (the column alone for one-line text) and
        what the parser expected, e.g. ``--config run.yaml: not valid YAML at line 3, column
        1: expected ',' or '}', but got '<stream end>' (while parsing a flow mapping at line
        2, column 7)``.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        one_line = "\n" not in text.strip()

        def at(mark: Any) -> str:
            if mark is None:
                return ""
            col = f"column {mark.column + 1}"
            return f" at {col}" if one_line else f" at line {mark.line + 1}, {col}"

        problem = getattr(exc, "problem", None)
        if problem is None:  # no position (e.g. a character YAML does not allow)
            raise ValueError(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from None
        context = getattr(exc, "context", None)
        while_ = f" ({context}{at(getattr(exc, 'context_mark', None))})" if context else ""
        message = f"not valid YAML{at(getattr(exc, 'problem_mark', None))}: {problem}{while_}"
        raise ValueError(f"{where}: {' '.join(message.split())}") from None


def read_yaml(path: str | os.PathLike[str], where: str) -> Any:
    """The YAML file ``path`` read with :func:`parse_yaml`.

    Raises
    ------
    ValueError
        In one line naming ``where``: the file is missing, a folder, unreadable, not UTF-8
        text, or not valid YAML (with the line and column).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{where}: not found") from None
    except IsADirectoryError:
        raise ValueError(f"{where}: is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ValueError(f"{where}: cannot be read: {exc.strerror or exc}") from None
    return parse_yaml(text, where)


def checked(raw: Any, check: Callable[[Any], T], where: str) -> T:
    """``check(raw)`` (an empty file: ``check({})``), its one-line error prefixed with ``where``.

    The one place a parsed YAML document (a mapping file, a column mapping) is checked and its
    error located: ``check`` says what is wrong, ``where`` which file or option.
    """
    try:
        return check({} if raw is None else raw)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def load_mapping(
    source: str | os.PathLike[str] | Mapping | None, option: str | None = None
) -> dict[str, TableMapping]:
    """Read a mapping from YAML (a path) or a plain dict: ``{table: {file, columns, values}}``.

    Parameters
    ----------
    source : path, mapping or None
        A YAML file, or the mapping itself; None: no mapping.
    option : str, optional
        The option that named the file (``"--mapping"``), for messages; default "mapping file".

    Raises
    ------
    ValueError
        In one line: for a file, its option and path first, then the line of a YAML error or
        the table, key or column that does not fit the contract.
    """
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return _table_mappings(source)
    where = f"{option} {source}" if option else f"mapping file {source}"
    return checked(read_yaml(source, where), _table_mappings, where)


def _table_mappings(raw: object) -> dict[str, TableMapping]:
    """The parsed ``{table: {file, columns, values}}`` checked against the contract."""
    if not isinstance(raw, Mapping):
        raise ValueError("the top level must map table names to {file, columns, values}")
    out: dict[str, TableMapping] = {}
    for table, spec in raw.items():
        if table not in CONTRACT:
            raise ValueError(
                f"mapping names table {table!r}, which the contract does not have "
                f"(tables: {', '.join(CONTRACT)})"
            )
        spec = spec or {}
        if not isinstance(spec, Mapping):
            raise ValueError(f"mapping for {table!r} must have keys file, columns, values")
        unknown = set(spec) - {"file", "columns", "values"}
        if unknown:
            raise ValueError(f"mapping for {table!r} has unknown keys {sorted(unknown)}")
        cols, values = spec.get("columns") or {}, spec.get("values") or {}
        for key, part in (("columns", cols), ("values", values)):
            if not isinstance(part, Mapping) or (
                key == "values" and not all(isinstance(v, Mapping) for v in part.values())
            ):
                raise ValueError(f"mapping for {table!r}: {key} must be a mapping by column")
        if not isinstance(spec.get("file") or "", str):
            raise ValueError(f"mapping for {table!r}: file must be a file or folder name")
        for col in list(cols) + list(values):
            try:
                CONTRACT[table].column(col)
            except KeyError as exc:  # its message names the table and the column
                raise ValueError(f"mapping for {table!r}: {exc.args[0]}") from None
        out[table] = TableMapping(spec.get("file"), dict(cols), dict(values))
    return out


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
    """An in-memory DuckDB connection with segml's settings (bounded memory, spill to temp)."""
    con = duckdb.connect(":memory:")
    if memory_limit:
        con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET TimeZone = 'UTC'")  # results never depend on the host's time zone
    return con


class OutputError(OSError):
    """Writing an output failed: the message names the path and the cause (a full disk, a
    quota, a read-only file system, no permission) and says that nothing was written."""


def output_error(exc: OSError, path: str | os.PathLike[str]) -> OutputError:
    """``exc``, raised while writing ``path``, as an :class:`OutputError` naming both.

    An :class:`OutputError` is returned as it is, so a caller may wrap whatever it caught:
    ``except OSError as exc: fail(str(output_error(exc, out)))``. The message reads e.g.
    ``cannot write out.csv: No space left on device (ENOSPC); nothing was written``.
    """
    if isinstance(exc, OutputError):
        return exc
    code = exc.errno
    cause = os.strerror(code) if code else (exc.strerror or str(exc) or type(exc).__name__)
    name = f" ({errno.errorcode[code]})" if code in errno.errorcode else ""
    err = OutputError(f"cannot write {path}: {cause}{name}; nothing was written")
    err.errno = code
    return err


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block that writes ``path``; an OSError in it becomes an :class:`OutputError`.

    The caller removes what the block left half-written (:func:`atomic_file` and
    :func:`atomic_output_dir` do).
    """
    try:
        yield
    except OSError as exc:
        raise output_error(exc, path) from exc


@contextmanager
def atomic_file(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path to write; it replaces ``out`` only on success.

    The parent folder is created; a failure leaves ``out`` as it was and no temporary file.

    Raises
    ------
    OutputError
        When the file system refuses (disk full, quota, read-only, permissions): the message
        names ``out`` and the cause.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            tmp.replace(out)
    finally:
        with contextlib.suppress(OSError):  # e.g. a folder that was never there
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_output_dir(out: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Write into a temporary sibling folder and move it to ``out`` only on success.

    A failure leaves no half-written ``out`` behind. An existing non-empty ``out`` is refused
    unless ``overwrite`` is set, so nothing a user made is lost by accident.

    Raises
    ------
    FileExistsError
        When ``out`` is a file, or a non-empty folder and not ``overwrite``.
    OutputError
        When the file system refuses (disk full, quota, read-only, permissions): the message
        names ``out`` and the cause; the temporary folder is removed, ``out`` left as it was.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    tmp = None
    try:
        with writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            # the process id in the name lets a later run remove it if this process is killed
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
            yield tmp
            _swap_in(tmp, out)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, out: Path) -> None:
    """Move the folder ``tmp`` to ``out``, replacing it; on failure ``out`` is as it was."""
    if not out.exists():
        tmp.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


#: Temporary siblings written by :func:`atomic_output_dir` and :func:`atomic_file`
#: (``.NAME.tmp-PID-XXXX``, ``.NAME.tmp-PID``) and set aside by a replacement (``.NAME.old-PID``).
_TEMPORARY = re.compile(r"^\..+\.(?:tmp|old)-(\d+)(?:-[^/]*)?$")


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary entries in ``folder`` left by processes that no longer run.

    A run killed while writing (SIGKILL, power loss) cannot clean up; the next run calls this
    on the folders it writes to. Entries of live processes are left alone. Returns the names
    removed.
    """
    from segml.processes import process_alive

    root = Path(folder)
    if not root.is_dir():
        return []
    removed = []
    for entry in sorted(root.iterdir()):
        m = _TEMPORARY.match(entry.name)
        if m is None or process_alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


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
        Naming the option, the path and the input it would overwrite, or the path (output or
        input) that is a symbolic link loop.
    """
    target = resolved(out, option)
    for name, given in inputs.items():
        if given is None:
            continue
        source = resolved(given, name)
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


def resolved(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` made absolute, ``~`` expanded and symbolic links followed.

    Raises
    ------
    ValueError
        Naming ``option`` and the path when a symbolic link on it leads back to itself (a
        loop), e.g. ``--out loop/x.csv: a symbolic link loop ...``.
    """
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError before Python 3.13, then OSError
        if isinstance(exc, OSError) and exc.errno != errno.ELOOP:
            raise ValueError(f"{option} {path}: {exc.strerror or exc}") from None
        raise ValueError(
            f"{option} {path}: a symbolic link loop (a link on this path leads back to "
            "itself); choose another path"
        ) from None


def check_can_create(path: str | os.PathLike[str], option: str) -> None:
    """Refuse ``path`` when it cannot be created: a symbolic link loop or a file on the way, a
    read-only file system, or no permission.

    The nearest existing folder above ``path`` must be a folder this process may write in.

    Raises
    ------
    ValueError
        Naming ``option``, the path and the obstacle.
    """
    path = Path(path)
    resolved(path, option)
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ValueError(f"{option} {path} cannot be created: {above} is a file, not a folder")
    if hasattr(os, "statvfs") and os.statvfs(above).f_flag & os.ST_RDONLY:
        raise ValueError(f"{option} {path} cannot be written: {above} is on a read-only file system")  # fmt: skip
    if not os.access(above, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path} cannot be written: no permission in {above}")


def check_output_file(path: str | os.PathLike[str], option: str) -> None:
    """Refuse ``path`` as a file to write: a folder is there, or it cannot be created.

    Raises
    ------
    ValueError
        Naming ``option`` and the path: a folder (``--out x.csv is a folder: give a file
        name``), a symbolic link loop, a file on the way, a read-only file system or no
        permission (:func:`check_can_create`).
    """
    path = Path(path)
    resolved(path, option)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder: give a file name")
    check_can_create(path, option)


def check_output_folder(path: str | os.PathLike[str], option: str) -> None:
    """Refuse ``path`` as a folder to write: a file is there, or it cannot be created.

    Raises
    ------
    ValueError
        Naming ``option`` and the path: a file (``--out x is a file: give a folder``), a
        symbolic link loop, a file on the way, a read-only file system or no permission.
    """
    path = Path(path)
    resolved(path, option)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file: give a folder")
    check_can_create(path, option)
