"""One table the user gives a command (CSV or Parquet), read as it is written.

``segml segment``, ``segml churn train`` and ``segml clv fit`` each take ONE file: a customer
table or a transaction log, exported from whatever system the user has. This module is their
single reader, so all of them accept the same files:

- Parquet by its suffix (``.parquet``, ``.pq``) or, for an unknown suffix, by its signature;
- CSV (``.csv``, ``.txt``, ``.tsv``), also compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``,
  ``.zip``), separated by commas, semicolons, tabs or bars: the separator is recognised from
  the header line;
- columns asked for as text are read as text (ids such as ``007`` keep their zeros; a log read
  entirely as text lets a checker quote bad dates and amounts as written).

Rows of a CSV are named in messages by their line in the file (:func:`row_labels`).
(The contract tables of a bank folder are read by DuckDB, see :mod:`segml.io`.)
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
COMPRESSIONS = frozenset({".gz", ".bz2", ".xz", ".lzma", ".zst", ".zip"})
SEPARATORS = (",", ";", "\t", "|")
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
    return pd.read_csv(path, sep=csv_separator(path), dtype=dtype)


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
                starts = _line_starts(path, csv_separator(path))
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
