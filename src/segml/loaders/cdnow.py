"""The CDNOW purchase log that ``lifetimes`` ships (Fader, Hardie & Lee 2005).

CDNOW was an online music retailer. The data follow the cohort of 23,570 customers who made
their first purchase in the first quarter of 1997 through June 1998; the sample is the 1/10th
random subset of 2,357 customers used throughout the CLV literature (BG/NBD, Pareto/NBD,
Gamma-Gamma). Both files are whitespace-separated text:

* ``CDNOW_master.txt``: header line, then customer id, date (``YYYYMMDD``), number of CDs,
  dollar value.
* ``CDNOW_sample.txt``: no header; the first column is the customer's id in the master file and
  the second the sample id ``1..2357``; then date, number of CDs, dollar value. The sample id
  is used, so that customer ids match the published analyses.

Another copy of either file (for instance the originals from Bruce Hardie's site) can be read
with ``path=``: its layout is recognised from the number of columns (5: sample, 4: master), a
header line is skipped, and malformed values are refused with their line numbers.

A few purchases have a dollar value of 0 (8 lines in the sample, 80 in the master); they are
kept as purchases (they count as transactions in the BG/NBD literature) and the validator
warns about them as zero-amount transactions.
"""

from __future__ import annotations

import importlib.util
import lzma
import os
import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from segml.loaders.common import LoadReport, input_file, offending_rows, transaction_log_to_bank
from segml.loaders.dataset import PURCHASE_LOG, dataset_record
from segml.tables import open_text

CDNOW_FILES = {"sample": "CDNOW_sample.txt", "master": "CDNOW_master.txt"}

#: Columns of each layout, as (name in the frame, name in messages).
LAYOUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "sample": (
        ("master_id", "master id"),
        ("customer_id", "sample id"),
        ("date", "date"),
        ("quantity", "number of CDs"),
        ("amount", "dollar value"),
    ),
    "master": (
        ("customer_id", "customer id"),
        ("date", "date"),
        ("quantity", "number of CDs"),
        ("amount", "dollar value"),
    ),
}
_BY_WIDTH = {len(cols): kind for kind, cols in LAYOUTS.items()}
_DIGITS = re.compile(r"[0-9]+")


def cdnow_path(kind: Literal["sample", "master"] = "sample") -> Path:
    """Return the path of a CDNOW file inside the installed ``lifetimes`` package.

    Parameters
    ----------
    kind : {"sample", "master"}
        Which file.

    Returns
    -------
    Path
        The file (found without importing ``lifetimes``).

    Raises
    ------
    ValueError
        For an unknown ``kind``.
    FileNotFoundError
        When ``lifetimes`` or its data files are not installed.
    """
    if kind not in CDNOW_FILES:
        raise ValueError(f"kind must be one of {sorted(CDNOW_FILES)}, not {kind!r}")
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the CDNOW data ship with the 'lifetimes' package: install it, or pass path= "
            "(a CDNOW_sample.txt or CDNOW_master.txt file)"
        )
    path = Path(spec.origin).parent / "datasets" / CDNOW_FILES[kind]
    if not path.is_file():
        raise FileNotFoundError(f"CDNOW file not found at {path}")
    return path


def _read_fields(path: Path) -> tuple[list[list[str]], list[int]]:
    """The whitespace-separated fields of each non-blank line, and the line numbers."""
    handle = open_text(path)
    if handle is None:
        raise ValueError(f"{path}: cannot read a {path.suffix} file here; decompress it first")
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with handle:
            for number, line in enumerate(handle, 1):
                fields = line.split()
                if fields:
                    rows.append(fields)
                    lines.append(number)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ValueError(f"cannot read the CDNOW file {path}: {exc}") from exc
    return rows, lines


def _check(path: Path, what: str, values: pd.Series, bad: np.ndarray, lines: list[int]) -> None:
    """Raise ValueError naming the file, the column and the offending lines, if any."""
    if bad.any():
        label = [f"line {n}" for n in lines]
        raise ValueError(f"{path}: {what}: {offending_rows(label, values, bad)}")


def _parse(path: Path, kind: Literal["sample", "master"] | None) -> pd.DataFrame:
    """Read a CDNOW text file of either layout; ValueError naming lines and values if bad."""
    rows, lines = _read_fields(path)
    if rows and not _DIGITS.fullmatch(rows[0][0]):  # a header line (lifetimes' master file)
        rows, lines = rows[1:], lines[1:]
    if not rows:
        raise ValueError(f"{path} holds no purchase lines")
    width = len(rows[0])
    layout = _BY_WIDTH.get(width)
    if layout is None:
        raise ValueError(
            f"{path}: line {lines[0]} has {width} column{'' if width == 1 else 's'}; a CDNOW "
            "file has 5 (sample: master id, sample id, date, number of CDs, dollar value) or 4 "
            "(master: customer id, date, number of CDs, dollar value), separated by blanks"
        )
    if kind is not None and kind != layout:
        raise ValueError(f"{path} has the {layout} layout ({width} columns), not the {kind} one")
    widths = np.array([len(r) for r in rows])
    _check(
        path,
        f"lines with other than {width} columns (the first data line has {width})",
        pd.Series([" ".join(r) for r in rows], dtype=object),
        widths != width,
        lines,
    )
    cols = LAYOUTS[layout]
    raw = pd.DataFrame(rows, columns=[name for name, _ in cols], dtype="string")
    shown = dict(cols)
    position = {name: i + 1 for i, (name, _) in enumerate(cols)}

    def what(name: str, problem: str) -> str:
        return f"column {position[name]} ({shown[name]}) {problem}"

    ids = raw["customer_id"]
    bad = ~ids.str.fullmatch(_DIGITS.pattern).to_numpy(dtype=bool)
    _check(path, what("customer_id", "is not a whole number"), ids, bad, lines)
    date = pd.to_datetime(raw["date"], format="%Y%m%d", errors="coerce")
    bad = date.isna().to_numpy()
    _check(path, what("date", "is not a date written YYYYMMDD"), raw["date"], bad, lines)
    qty = raw["quantity"]
    bad = ~qty.str.fullmatch(_DIGITS.pattern).to_numpy(dtype=bool)
    _check(path, what("quantity", "is not a whole number of CDs"), qty, bad, lines)
    amount = pd.to_numeric(raw["amount"].astype(object), errors="coerce").astype("float64")
    bad = ~(np.isfinite(amount.to_numpy()) & (amount.to_numpy() >= 0))
    _check(path, what("amount", "is not a number >= 0"), raw["amount"], bad, lines)
    customer = ids.str.lstrip("0").replace("", "0").astype(str)
    out = pd.DataFrame(
        {
            "customer_id": customer.to_numpy(dtype=object),
            "timestamp": date.to_numpy(),
            "quantity": qty.astype("int64").to_numpy(),
            "amount": amount.to_numpy(),
        }
    )
    order = out.assign(_n=out["customer_id"].str.len())
    order = order.sort_values(["_n", "customer_id", "timestamp"], kind="stable")
    return order.drop(columns="_n").reset_index(drop=True)


def load_cdnow(
    kind: Literal["sample", "master"] | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Read the CDNOW purchase log.

    Parameters
    ----------
    kind : {"sample", "master"}, optional
        ``"sample"``: 2,357 customers, 6,919 purchases; ``"master"``: 23,570 customers,
        69,659 purchases. Without ``path``, the file of that name that ``lifetimes`` ships
        (default ``"sample"``); with ``path``, the layout the file must have (default: the one
        its number of columns shows).
    path : path, optional
        A CDNOW text file of either layout (plain or compressed ``.gz``, ``.bz2``, ``.xz``)
        instead of the copy in ``lifetimes``.

    Returns
    -------
    DataFrame
        One row per purchase line, sorted by customer and date, with columns
        ``customer_id`` (text, ``"1"``..; the sample id for the sample), ``timestamp``
        (datetime64, midnight of the purchase day), ``quantity`` (int, number of CDs) and
        ``amount`` (float, US dollars).

    Raises
    ------
    FileNotFoundError
        When ``path`` (or the copy in ``lifetimes``) is absent.
    IsADirectoryError
        When ``path`` is a folder.
    ValueError
        For an unknown ``kind``, a file of another layout, or malformed values; the message
        names the file, the column and the first offending lines with their values.
    """
    if kind is not None and kind not in CDNOW_FILES:
        raise ValueError(f"kind must be one of {sorted(CDNOW_FILES)}, not {kind!r}")
    if path is None:
        return _parse(cdnow_path(kind or "sample"), kind or "sample")
    return _parse(input_file(path, "CDNOW file"), kind)


def cdnow_to_bank(
    out_dir: str | os.PathLike[str],
    kind: Literal["sample", "master"] | None = None,
    overwrite: bool = False,
    *,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the CDNOW log as a contract folder (retail customers, one account each).

    Every purchase becomes a debit ``purchase`` transaction over the ``online`` channel on
    account ``"A" + customer_id`` of product ``other``; see
    :func:`segml.loaders.common.transaction_log_to_bank`. ``dataset.json`` records a purchase
    log from ``cdnow``, the file's name and SHA-256 and a :class:`LoadReport` (nothing is
    dropped; ``counts``: customers and purchases of $0).

    Parameters
    ----------
    out_dir : path
        Output folder (written atomically).
    kind : {"sample", "master"}, optional
        Which CDNOW file (see :func:`load_cdnow`; default the sample).
    overwrite : bool
        Replace a non-empty ``out_dir``.
    path : path, optional
        A CDNOW text file to read instead of the copy in ``lifetimes``.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, ValueError
        As :func:`load_cdnow`; nothing is written then.
    FileExistsError
        When ``out_dir`` is not empty and ``overwrite`` is not set.
    """
    log = load_cdnow(kind, path=path)
    src = cdnow_path(kind or "sample") if path is None else Path(path)
    zero = int((log["amount"] == 0).sum())
    report = LoadReport(
        source="cdnow",
        rows_in=len(log),
        rows_out=len(log),
        dropped={},
        notes=(
            "every purchase line is a transaction; rows are purchase lines (blank lines and "
            "a header line are not counted)",
            f"{zero:,} purchases of $0 are kept (the validator warns about zero amounts)",
        ),
        counts={"customers": int(log["customer_id"].nunique()), "zero_amount_purchases": zero},
    )
    record = dataset_record(PURCHASE_LOG, "cdnow", report, [src])
    return transaction_log_to_bank(log, out_dir, overwrite=overwrite, dataset=record)
