"""``dataset.json``: what a converted folder holds, where it came from and what was dropped.

Every adapter writes this file beside the contract tables, in the same atomic step, so a
folder says what kind of data it is: ``"purchase_log"`` (a shop's purchases: CDNOW, Online
Retail, any log given to :func:`~segml.loaders.common.transaction_log_to_bank`), valued by its
purchases, or ``"bank"`` (Berka), valued by the bank's profit. The record also names the source
file and its SHA-256 and carries the adapter's :class:`~segml.loaders.common.LoadReport`.

The contract reader and the validator look only for the contract tables by name
(:func:`segml.io.locate_table`), so they ignore this file, as they ignore
``loan_status.parquet`` and a synthetic bank's ``synth_manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segml.loaders.common import LoadReport

#: Name of the record inside a converted folder.
DATASET_FILE = "dataset.json"
#: Kinds of data a converted folder may hold.
PURCHASE_LOG = "purchase_log"
BANK = "bank"
KINDS = (PURCHASE_LOG, BANK)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def dataset_record(
    kind: str,
    source: str | None,
    report: LoadReport | None = None,
    files: Sequence[str | os.PathLike[str]] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The ``dataset.json`` record of a converted folder.

    Parameters
    ----------
    kind : {"purchase_log", "bank"}
        What the folder holds.
    source : str or None
        The dataset (``"online_retail"``, ``"cdnow"``, ``"berka"``); None for a log given as
        a DataFrame.
    report : LoadReport, optional
        What the adapter read, kept and dropped.
    files : sequence of path
        The input files, the main one first (the log; Berka's transaction file). Its name and
        SHA-256 are ``source_file`` and ``source_sha256``; with several files, ``input_files``
        maps every name to its SHA-256.
    **extra
        Further JSON-ready entries (Berka: ``transactions_file``, ``transactions_partial``).

    Returns
    -------
    dict
        ``kind``, ``source``, ``source_file``, ``source_sha256``, (``input_files``),
        ``report`` (``LoadReport.to_dict()`` or None) and ``segml_version``; JSON-ready.
    """
    from segml import __version__

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    paths = [Path(f) for f in files]
    record: dict[str, Any] = {
        "kind": kind,
        "source": source,
        "source_file": paths[0].name if paths else None,
        "source_sha256": file_sha256(paths[0]) if paths else None,
    }
    if len(paths) > 1:
        record["input_files"] = {p.name: file_sha256(p) for p in paths}
    record.update(extra)
    record["report"] = report.to_dict() if report is not None else None
    record["segml_version"] = __version__
    return record


def record_summary(record: Mapping[str, Any]) -> str:
    """Readable lines of a record: what the folder holds, from which file, the load report."""
    from segml.loaders.common import LoadReport

    source = record.get("source") or "a DataFrame"
    lines = [f"dataset: {record['kind']} from {source}"]
    if record.get("source_file"):
        others = len(record.get("input_files") or {}) - 1
        more = f" and {others} other file{'s' * (others != 1)}" if others > 0 else ""
        lines[0] += f", read from {record['source_file']}{more}"
        lines.append(f"  {record['source_file']}: sha256 {record['source_sha256']}")
    if record.get("transactions_partial"):
        lines.append(
            f"  transactions: {record['transactions_file']} is PARTIAL (the first 3 MiB of "
            "trans.asc, only the earliest dates): fine for tests, biased for analysis"
        )
    elif record.get("transactions_file"):
        lines.append(f"  transactions: {record['transactions_file']} (the full file)")
    if record.get("report"):
        lines.append(LoadReport.from_dict(record["report"]).summary())
    return "\n".join(lines)


def write_dataset_record(folder: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Write ``record`` as ``folder/dataset.json`` (UTF-8, indented); return the file."""
    path = Path(folder) / DATASET_FILE
    path.write_text(json.dumps(dict(record), indent=2) + "\n", encoding="utf-8")
    return path


def read_dataset_record(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``dataset.json`` record of a converted folder, or None when it has none.

    Raises
    ------
    ValueError
        Naming the file when it is not a JSON object with a known ``kind``.
    """
    path = Path(folder) / DATASET_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        raise ValueError(f"{path}: 'kind' must be one of {', '.join(KINDS)}")
    return record
