"""Read the PKDD'99 "Berka" files: find the folder, read each ``.asc`` file as text, parse columns.

The files are ``;``-separated text with quoted strings and dates as ``YYMMDD``
(:mod:`segml.loaders.berka` maps them onto the contract). Malformed files are refused, not
cleaned: a file that cannot be read or lacks a column the mapping uses, a date that is not a
valid ``YYMMDD`` or an amount that is not a number raises ``ValueError`` naming the file, the
column and the first offending lines (``line 5='931399'``; the header is line 1).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from segml.loaders.common import (
    check_columns,
    check_filled,
    offending_rows,
    parse_number_column,
    shared_data_dir,
)
from segml.tables import row_labels

FILES = ("account", "client", "disp", "order", "loan", "card", "district")
#: Columns each file must have (those the mapping uses).
REQUIRED: dict[str, tuple[str, ...]] = {
    "account": ("account_id", "date"),
    "client": ("client_id", "birth_number", "district_id"),
    "disp": ("disp_id", "client_id", "account_id", "type"),
    "order": (),
    "loan": ("loan_id", "account_id", "date", "amount", "duration", "status"),
    "card": ("card_id", "disp_id", "issued"),
    "district": ("A1", "A2", "A3"),
    "trans": (
        "trans_id",
        "account_id",
        "date",
        "type",
        "operation",
        "amount",
        "balance",
        "k_symbol",
    ),
}
PARTIAL_TRANS = "trans_PARTIAL_first_3MiB.asc"


def berka_path(berka_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the Berka folder, checking that the needed files are there.

    Parameters
    ----------
    berka_dir : path, optional
        Folder of the ``.asc`` files; default ``<shared data>/berka``.

    Raises
    ------
    FileNotFoundError
        Naming the folder or the missing files.
    NotADirectoryError
        When ``berka_dir`` is a file.
    """
    if berka_dir is None:
        shared = shared_data_dir()
        if shared is None:
            raise FileNotFoundError(
                "Berka data not found: no shared data folder (set SEGML_SHARED_DATA or place "
                "the files in <repo>/../shared/data/berka), or pass berka_dir= (the folder of "
                "the .asc files)"
            )
        berka_dir = shared / "berka"
    folder = Path(berka_dir)
    if folder.is_file():
        raise NotADirectoryError(f"Berka data: {folder} is a file; give the folder of .asc files")
    if not folder.is_dir():
        raise FileNotFoundError(f"Berka folder not found: {folder}")
    missing = [f"{f}.asc" for f in FILES if not (folder / f"{f}.asc").is_file()]
    if not _trans_file(folder):
        missing.append(f"trans.asc (or {PARTIAL_TRANS})")
    if missing:
        raise FileNotFoundError(f"Berka files missing in {folder}: {', '.join(missing)}")
    return folder


def _trans_file(folder: Path) -> Path | None:
    for name in ("trans.asc", PARTIAL_TRANS):
        if (folder / name).is_file():
            return folder / name
    return None


def _read(path: Path, required: tuple[str, ...]) -> tuple[pd.DataFrame, Callable[[int], str]]:
    """Read one ``.asc`` file as text, quotes removed and blanks stripped, and its row names.

    Raises ValueError naming the file when it cannot be read or lacks a ``required`` column.
    """
    try:
        df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, quotechar='"')
    except (ValueError, UnicodeError) as exc:  # ParserError, EmptyDataError, decoding
        raise ValueError(f"cannot read the Berka file {path}: {exc}") from exc
    check_columns(df.columns, required, path, f"Berka {path.name}", sep=";")
    return df.apply(lambda s: s.str.strip()), row_labels(path, len(df))


def _yymmdd(values: pd.Series) -> pd.Series:
    """Parse Berka ``YYMMDD`` dates (19YY; a trailing time is ignored); NaT when invalid."""
    digits = values.str.slice(0, 6)
    ok = digits.str.fullmatch(r"[0-9]{6}").fillna(False).astype(bool)
    d = digits.where(ok, "000000")
    parts = pd.DataFrame(
        {
            "year": 1900 + d.str.slice(0, 2).astype(int),
            "month": d.str.slice(2, 4).astype(int),
            "day": d.str.slice(4, 6).astype(int),
        }
    )
    out = pd.to_datetime(parts, errors="coerce")
    return out.where(ok.to_numpy())


def _dates(values: pd.Series, path: Path, column: str, labels: Callable[[int], str]) -> pd.Series:
    """Parse a column of ``YYMMDD`` dates; ValueError naming the file, column and bad lines."""
    check_filled(values, path, column, labels)
    out = _yymmdd(values)
    if (bad := out.isna().to_numpy()).any():
        raise ValueError(
            f"{path}: column {column!r} has values that are not dates written YYMMDD: "
            f"{offending_rows(labels, values, bad)}"
        )
    return out


@dataclass(frozen=True)
class BerkaFiles:
    """The Berka files read as text, with their paths and row names, and their column parsers."""

    paths: dict[str, Path]
    frames: dict[str, pd.DataFrame]
    labels: dict[str, Callable[[int], str]]

    @classmethod
    def read(cls, folder: Path) -> BerkaFiles:
        """Read every file of ``folder`` (checked by :func:`berka_path`), ``trans`` last.

        Raises
        ------
        ValueError
            Naming the file when it cannot be read or lacks a column the mapping uses.
        """
        paths = {name: folder / f"{name}.asc" for name in FILES}
        paths["trans"] = _trans_file(folder) or folder / "trans.asc"  # berka_path checked it
        read = {name: _read(path, REQUIRED[name]) for name, path in paths.items()}
        frames = {name: df for name, (df, _) in read.items()}
        labels = {name: lab for name, (_, lab) in read.items()}
        return cls(paths, frames, labels)

    def dates(self, name: str, column: str) -> pd.Series:
        """File ``name``'s ``YYMMDD`` dates in ``column``; ValueError naming bad lines."""
        return _dates(self.frames[name][column], self.paths[name], column, self.labels[name])

    def numbers(self, name: str, column: str, whole: bool = False) -> pd.Series:
        """File ``name``'s numbers in ``column``; ValueError naming bad lines."""
        df = self.frames[name]
        return parse_number_column(
            df[column], self.paths[name], column, self.labels[name], whole=whole
        )
