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

A few purchases have a dollar value of 0 (8 lines in the sample, 80 in the master); they are
kept as purchases (they count as transactions in the BG/NBD literature) and the validator
warns about them as zero-amount transactions.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal

import pandas as pd

from segml.loaders.common import transaction_log_to_bank

CDNOW_FILES = {"sample": "CDNOW_sample.txt", "master": "CDNOW_master.txt"}


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
        raise FileNotFoundError("the CDNOW data ship with the 'lifetimes' package; install it")
    path = Path(spec.origin).parent / "datasets" / CDNOW_FILES[kind]
    if not path.is_file():
        raise FileNotFoundError(f"CDNOW file not found at {path}")
    return path


def load_cdnow(kind: Literal["sample", "master"] = "sample") -> pd.DataFrame:
    """Read the CDNOW purchase log.

    Parameters
    ----------
    kind : {"sample", "master"}
        ``"sample"``: 2,357 customers, 6,919 purchases; ``"master"``: 23,570 customers,
        69,659 purchases.

    Returns
    -------
    DataFrame
        One row per purchase line, sorted by customer and date, with columns
        ``customer_id`` (text, ``"1"``..; the sample id for the sample), ``timestamp``
        (datetime64, midnight of the purchase day), ``quantity`` (int, number of CDs) and
        ``amount`` (float, US dollars).
    """
    path = cdnow_path(kind)
    if kind == "sample":
        names = ["master_id", "customer_id", "date", "quantity", "amount"]
        raw = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype=str)
    else:
        names = ["customer_id", "date", "quantity", "amount"]
        raw = pd.read_csv(path, sep=r"\s+", header=0, names=names, dtype=str)
    out = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("int64").astype(str),
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "quantity": raw["quantity"].astype("int64"),
            "amount": raw["amount"].astype("float64"),
        }
    )
    order = out["customer_id"].astype("int64")
    out = out.assign(_o=order).sort_values(["_o", "timestamp"], kind="stable")
    return out.drop(columns="_o").reset_index(drop=True)


def cdnow_to_bank(
    out_dir: str | os.PathLike[str],
    kind: Literal["sample", "master"] = "sample",
    overwrite: bool = False,
) -> Path:
    """Write the CDNOW log as a contract folder (retail customers, one account each).

    Every purchase becomes a debit ``purchase`` transaction over the ``online`` channel on
    account ``"A" + customer_id`` of product ``other``; see
    :func:`segml.loaders.common.transaction_log_to_bank`.

    Parameters
    ----------
    out_dir : path
        Output folder (written atomically).
    kind : {"sample", "master"}
        Which CDNOW file.
    overwrite : bool
        Replace a non-empty ``out_dir``.

    Returns
    -------
    Path
        ``out_dir``.
    """
    return transaction_log_to_bank(load_cdnow(kind), out_dir, overwrite=overwrite)
