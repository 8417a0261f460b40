"""One table the user gives a command (CSV or Parquet), read as it is written.

``segml segment``, ``segml churn train`` and ``segml clv fit`` each take ONE file: a customer
table or a transaction log, exported from whatever system the user has. This module is their
single reader, so all of them accept the same files:

- Parquet by its suffix (``.parquet``, ``.pq``) or, for an unknown suffix, by its signature;
- CSV (``.csv``, ``.txt``, ``.tsv``), also compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``,
  ``.zip``), separated by commas, semicolons, tabs or bars: the separator is recognised from
  the header line;
- text whose fields are separated by runs of blanks (spaces or tabs), such as CDNOW's
  ``CDNOW_master.txt`` (:func:`field_separator`); a first line of numbers only is a data line,
  and the columns are then named by position ``"1"``, ``"2"``, ...;
- columns asked for as text are read as text (ids such as ``007`` keep their zeros; a log read
  entirely as text lets a checker quote bad dates and amounts as written).

Rows of a CSV are named in messages by their line in the file (:func:`row_labels`). The CSV
files segml writes go through :func:`write_csv`, which neutralises text cells a spreadsheet
would run as formulas (:func:`spreadsheet_safe`).
(The contract tables of a bank folder are read by DuckDB, see :mod:`segml.io`.)
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import re
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from segml.textcols import NUM_TEXT

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
COMPRESSIONS = frozenset({".gz", ".bz2", ".xz", ".lzma", ".zst", ".zip"})
SEPARATORS = (",", ";", "\t", "|")
#: What :func:`field_separator` returns for fields separated by runs of blanks (a pandas regex).
WHITESPACE = r"\s+"
_BLANK_FIELD = re.compile(r'(?:"[^"]*"|[^\s"])+')
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".lzma": lzma.open}


def table_kind(path: Path) -> str | None:
    """``"csv"``, ``"parquet"`` or None (unknown) from the file name's suffixes.

    ``log.csv.gz`` is a CSV; a bare ``log.gz`` is taken for a CSV too (Parquet is never
    compressed from outside).
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    if set(suffixes) & PARQUET_SUFFIXES:
        return "parquet"
    if set(suffixes) & CSV_SUFFIXES or (suffixes and suffixes[-1] in COMPRESSIONS):
        return "csv"
    return None


def open_text(path: Path) -> IO[str] | None:
    """The decompressed text of a CSV file, or None for a compression read only by pandas."""
    suffix = Path(path).suffix.lower()
    if suffix in (".zip", ".zst"):
        return None
    how = _OPENERS.get(suffix, open)
    return how(path, "rt", newline="", encoding="utf-8", errors="replace")  # type: ignore[operator]


def csv_separator(path: Path) -> str:
    """The separator of a CSV file, recognised from its first non-blank line.

    The candidate (comma, semicolon, tab, bar) found most often outside quotes in the header
    wins; a ``.tsv`` file with no candidate in its header is tab-separated, any other comma.
    """
    default = "\t" if ".tsv" in {s.lower() for s in Path(path).suffixes} else ","
    try:
        handle = open_text(path)
        if handle is None:
            return default
        with handle:
            header = next((line for line in handle if line.strip()), "")
    except (OSError, EOFError, lzma.LZMAError, UnicodeError):
        return default
    outside, quoted = [], False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(ch)
    counts = {sep: outside.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: (counts[sep], sep == default))
    return best if counts[best] else default


def csv_header(path: Path) -> list[str]:
    """The header fields of a CSV file exactly as written (spaces, control characters and all).

    Empty when the file cannot be read here (a ``.zip`` or ``.zst`` file, a read error).
    """
    try:
        handle = open_text(path)
        if handle is None:
            return []
        with handle:
            line = next((line for line in handle if line.strip()), "")
    except (OSError, EOFError, lzma.LZMAError, UnicodeError):
        return []
    return next(csv.reader([line.rstrip("\r\n")], delimiter=csv_separator(path)), [])


def _first_lines(path: Path, n: int) -> list[str]:
    """The first ``n`` non-blank lines of a text file, line ends removed (fewer if unreadable)."""
    lines: list[str] = []
    try:
        handle = open_text(path)
        if handle is None:
            return []
        with handle:
            for line in handle:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) == n:
                    break
    except (OSError, EOFError, lzma.LZMAError, UnicodeError):
        return []
    return lines


def _outside_quotes(line: str) -> str:
    """``line`` without its double-quoted parts."""
    return "".join(part for i, part in enumerate(line.split('"')) if i % 2 == 0)


def field_separator(path: Path) -> str:
    """The separator of a text table: :func:`csv_separator`'s, or :data:`WHITESPACE`.

    The fields are separated by runs of blanks (spaces or tabs, as in CDNOW's
    ``CDNOW_master.txt``) when the first non-blank line has no comma, semicolon or bar outside
    quotes, is not tab-separated (a tab-separated line has single tabs that touch no other
    blank), and splits on blanks into two or more fields, as many as the next non-blank line.
    The contract tables of a bank folder are read with :func:`csv_separator` (DuckDB and Spark
    take one character), so this applies to the one table a command is given.
    """
    sep = csv_separator(path)
    lines = _first_lines(path, 2)
    if not lines:
        return sep
    head = _outside_quotes(lines[0])
    if any(c in head for c in ",;|") or ("\t" in head and not re.search(r"\s\t|\t\s", head)):
        return sep
    width = len(_BLANK_FIELD.findall(lines[0]))
    if width < 2 or any(len(_BLANK_FIELD.findall(line)) != width for line in lines[1:]):
        return sep
    return WHITESPACE


def _positional_names(path: Path) -> list[str] | None:
    """``["1", "2", ...]`` when a blank-separated file has no header (its first line holds
    numbers only), else None."""
    first = _first_lines(path, 1)
    fields = _BLANK_FIELD.findall(first[0]) if first else []
    if not fields or not all(NUM_TEXT.match(f) for f in fields):
        return None
    return [str(i) for i in range(1, len(fields) + 1)]


def read_table(path: Path, text: Collection[str] | bool = ()) -> pd.DataFrame:
    """Read one CSV or Parquet table.

    Parameters
    ----------
    path : Path
        The file (see the module's docstring for the formats).
    text : collection of str or bool
        Columns of a CSV to read as text, or True for every column. Parquet keeps its types.

    Raises
    ------
    ValueError
        Naming the file: missing, a folder, or unreadable as CSV and as Parquet.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give one CSV or Parquet file")
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    kind = table_kind(path)
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "csv":
            return _read_csv(path, text)
        try:  # unknown suffix: Parquet has a signature, CSV does not
            return pd.read_parquet(path)
        except Exception:
            return _read_csv(path, text)
    except Exception as exc:
        raise ValueError(f"cannot read {path} as a CSV or Parquet table: {exc}") from exc


def _read_csv(path: Path, text: Collection[str] | bool) -> pd.DataFrame:
    if text is True:
        dtype: type | dict[str, type] | None = str
    elif text:
        dtype = {name: str for name in text}
    else:
        dtype = None
    sep = field_separator(path)
    names = _positional_names(path) if sep == WHITESPACE else None
    if names is not None:
        return pd.read_csv(path, sep=sep, dtype=dtype, header=None, names=names)
    return pd.read_csv(path, sep=sep, dtype=dtype)


def is_csv(path: Path) -> bool:
    """Whether :func:`read_table` reads ``path`` as a CSV (also for an unknown suffix)."""
    kind = table_kind(path)
    if kind is not None:
        return kind == "csv"
    try:
        with open(path, "rb") as handle:
            return handle.read(4) != b"PAR1"
    except OSError:
        return True


def row_labels(path: Path, n_rows: int) -> Callable[[int], str]:
    """Names of a table's rows for messages, by 0-based position in the frame read.

    A CSV's rows are named by their first line in the file (``"line 90"``; the header is line
    1; blank lines are skipped and a quoted field may span lines, as pandas reads them). The
    file is read again only when a message names a row. A Parquet file's rows, or a CSV whose
    rows cannot be matched with the ``n_rows`` read (an unusual compression or dialect), are
    named by position: ``"row 88 (0-based)"``.
    """
    starts: list[int] | None = None if is_csv(path) else []

    def label(i: int) -> str:
        nonlocal starts
        if starts is None:
            try:
                starts = _line_starts(path, field_separator(path))
            except (OSError, csv.Error, EOFError, lzma.LZMAError):
                starts = []
            if len(starts) != n_rows:
                starts = []
        return f"line {starts[i]}" if starts else f"row {i} (0-based)"

    return label


def _line_starts(path: Path, sep: str) -> list[int]:
    """First line (1-based) of each data row of a CSV file, as pandas reads it."""
    handle = open_text(path)
    if handle is None:
        return []
    if sep == WHITESPACE:  # one row per non-blank line, after the header if there is one
        with handle:
            starts = [n for n, line in enumerate(handle, 1) if line.strip()]
        return starts if _positional_names(path) else starts[1:]
    starts: list[int] = []
    with handle:
        reader = csv.reader(handle, delimiter=sep)
        prev, header = 0, False
        for record in reader:
            start, prev = prev + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if header:
                starts.append(start)
            header = True
    return starts


def show_value(value: Any) -> str:
    """A value as a reader writes it: ``'abc'``, ``1.5``, empty for a missing value."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "(empty)"
    return repr(value) if isinstance(value, str) else str(value)


def offending_rows(
    labels: Callable[[int], str] | Sequence[str],
    values: Sequence[Any] | np.ndarray | pd.Series | None,
    mask: np.ndarray | pd.Series,
    limit: int = 5,
) -> str:
    """``"2 rows: line 5='abc', line 9='x'"``: the first ``limit`` rows where ``mask`` holds.

    Parameters
    ----------
    labels : callable or sequence
        Name of the row at a 0-based position (``segml.tables.row_labels`` gives CSV lines).
    values : array-like or None
        The values to quote, by position; None to name the rows only (``"line 5"``).
    mask : array of bool
        Which rows are offending.
    limit : int
        How many rows to show; the rest are counted.

    Returns
    -------
    str
        The count of offending rows and the first ones, named (and quoted).
    """
    name = labels if callable(labels) else labels.__getitem__
    vals = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    shown = ", ".join(
        name(int(i)) if vals is None else f"{name(int(i))}={show_value(vals[i])}"
        for i in idx[:limit]
    )
    more = f" (and {len(idx) - limit:,} more)" if len(idx) > limit else ""
    return f"{len(idx):,} row{'' if len(idx) == 1 else 's'}: {shown}{more}"


#: First characters that make a spreadsheet read a text cell as a formula (OWASP: CSV injection).
FORMULA_STARTS = frozenset("=+-@\t\r")


def _formula_like(value: object) -> bool:
    return isinstance(value, str) and value[:1] in FORMULA_STARTS and not NUM_TEXT.match(value)


def spreadsheet_text(value: str) -> str:
    """``value`` as a spreadsheet shows it as text: a single quote in front when it begins like
    a formula (``=HYPERLINK(...)`` -> ``'=HYPERLINK(...)``); a plain number (``-5.2``) or any
    other text as it is."""
    return "'" + value if _formula_like(value) else value


def _defused(values: pd.Series | pd.Index) -> np.ndarray | None:
    """The text values with :func:`spreadsheet_text` applied, or None when none needs it."""
    if not _is_text(values.dtype):
        return None  # numbers, dates, booleans: never formulas
    raw = np.asarray(values, dtype=object)
    hit = np.fromiter((_formula_like(v) for v in raw), dtype=bool, count=len(raw))
    if not hit.any():
        return None
    fixed = raw.copy()
    fixed[hit] = ["'" + v for v in raw[hit]]
    return fixed


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell, column name and index label that a spreadsheet would run
    as a formula neutralised by :func:`spreadsheet_text` (OWASP's advice against CSV injection).

    Only text changes: number, date and boolean columns are never touched, and text that is a
    plain number (``-5.2``, ``+44``) stays as written. ``frame`` itself is not modified.
    """
    out = frame.copy(deep=False)
    for i in range(frame.shape[1]):
        fixed = _defused(frame.iloc[:, i])
        if fixed is not None:
            out.isetitem(i, pd.Series(fixed, index=frame.index, dtype=object))
    for axis in ("columns", "index"):
        labels = getattr(frame, axis)
        fixed = None if isinstance(labels, pd.MultiIndex) else _defused(labels)
        if fixed is not None:
            setattr(out, axis, pd.Index(fixed, name=labels.name, dtype=object))
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv: Any) -> None:
    """Write ``frame`` as CSV (``DataFrame.to_csv`` options passed on) after
    :func:`spreadsheet_safe`: the one CSV writer of segml's outputs, so a cell such as
    ``=HYPERLINK(...)`` never opens as a live formula in a spreadsheet.

    When a text cell holds a carriage return, every text cell is quoted
    (``csv.QUOTE_NONNUMERIC``): unquoted, a lone ``\\r`` would start a new row.
    """
    safe = spreadsheet_safe(frame)
    if "quoting" not in to_csv and _holds_carriage_return(safe):
        to_csv["quoting"] = csv.QUOTE_NONNUMERIC
    safe.to_csv(path, **to_csv)


def _holds_carriage_return(frame: pd.DataFrame) -> bool:
    """Whether a text cell, column name or index label of ``frame`` holds ``\\r``."""
    parts = [frame.columns, frame.index] + [frame.iloc[:, i] for i in range(frame.shape[1])]
    return any(
        isinstance(v, str) and "\r" in v
        for part in parts
        if not isinstance(part, pd.MultiIndex) and _is_text(part.dtype)
        for v in np.asarray(part, dtype=object)
    )


def _is_text(kind: Any) -> bool:
    """Whether values of dtype ``kind`` may be text (object, string, categorical)."""
    return pd.api.types.is_object_dtype(kind) or isinstance(
        kind, pd.StringDtype | pd.CategoricalDtype
    )
