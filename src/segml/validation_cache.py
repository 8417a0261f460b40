"""Remember validations: a folder validated once is not re-validated while its files are unchanged.

A validation's outcome depends only on the bytes of the files it reads, where they are, the
mapping, the reference date, the contract and the code that checks it. :func:`validation_key`
digests all of these (the files by their SHA-256, :func:`segml.digest.file_digest`, never by
size or modification time) into one key; :func:`store` keeps the report under it and
:func:`load` gives it back, equal to the report a full validation gives, with ``cached`` set.

Entries live outside the bank's folder (which is only ever read): one JSON file per key in
``$SEGML_CACHE_DIR``, else ``$XDG_CACHE_HOME/segml``, else ``~/.cache/segml``, subfolder
``validation/``, written atomically and readable by their owner only (a report quotes the
first offending rows). A missing, corrupt or unreadable entry, or a cache folder that cannot be
written, is a miss: the folder is validated again, and nothing fails because of the cache.
``SEGML_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from segml.contract import (
    CONTRACT,
    CROSS_RULES,
    ISOLATING_GAP_IQRS,
    MAX_MONEY,
    MIN_DATE,
    MIN_ISOLATING_GAP_DAYS,
)
from segml.digest import file_digest, text_digest
from segml.io import TableMapping
from segml.validation_report import ValidationReport

__all__ = [
    "MAX_ENTRIES",
    "cache_dir",
    "contract_digest",
    "enabled",
    "load",
    "store",
    "validation_key",
]

#: Bump when the key or the entry changes shape: old entries then miss.
FORMAT = 1
#: Entries kept; past it the least recently used go.
MAX_ENTRIES = 256
#: Modules whose code decides a validation's outcome (their source is part of the key, so an
#: edited rule re-validates even without a new version number).
RULE_MODULES = (
    "segml.contract",
    "segml.validate",
    "segml.validation_report",
    "segml.validation_keys",
    "segml.io.tables",
    "segml.io.mapping",
    "segml.tables",
)


def cache_dir() -> Path:
    """The folder of the validation cache's entries.

    ``$SEGML_CACHE_DIR/validation``, else ``$XDG_CACHE_HOME/segml/validation``, else
    ``~/.cache/segml/validation``.

    Examples
    --------
    >>> cache_dir().name
    'validation'
    """
    root = os.environ.get("SEGML_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = str(Path(xdg) / "segml") if xdg else str(Path.home() / ".cache" / "segml")
    return Path(root).expanduser() / "validation"


def enabled(cache: bool = True) -> bool:
    """Whether to use the cache: ``cache`` and ``SEGML_NO_CACHE`` unset (or ``0``/empty).

    Examples
    --------
    >>> enabled(False)
    False
    """
    off = os.environ.get("SEGML_NO_CACHE", "").strip().lower()
    return cache and off in ("", "0", "false", "no")


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """Digest of the source of :data:`RULE_MODULES` (as loaded by this process)."""
    parts = []
    for name in RULE_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        parts.append(f"{name}:{text_digest(Path(origin).read_bytes()) if origin else '-'}")
    return text_digest("\n".join(parts))


def contract_digest() -> str:
    """Digest of the contract: every table, column and rule, its bounds, and the checking code.

    Examples
    --------
    >>> len(contract_digest())
    64
    """
    consts = (MIN_DATE, MAX_MONEY, ISOLATING_GAP_IQRS, MIN_ISOLATING_GAP_DAYS)
    text = repr((list(CONTRACT.values()), CROSS_RULES, consts))
    return text_digest(f"{text}\n{_code_digest()}")


def _mapping_doc(mapping: Mapping[str, TableMapping]) -> dict[str, Any]:
    """The mapping's full content, JSON-ready (each table: file, columns, value codes)."""
    return {
        name: {
            "file": m.file,
            "columns": dict(m.columns),
            "values": {c: dict(v) for c, v in m.values.items()},
        }
        for name, m in mapping.items()
    }


def validation_key(
    folder: str | os.PathLike[str],
    files: Mapping[str, Sequence[Path]],
    mapping: Mapping[str, TableMapping],
    reference_date: dt.date,
    located: Mapping[str, str] | None = None,
) -> str | None:
    """The cache key of a validation: a digest of everything its outcome depends on.

    Parameters
    ----------
    folder : path
        The folder as given (reports quote it).
    files : dict of list of Path
        Each table's files as located (an absent table: an empty list); each file's path and
        SHA-256 content digest enter the key.
    mapping : dict of TableMapping
        The bank's names (their full content enters the key).
    reference_date : date
        The validation's reference date.
    located : dict of str, optional
        What locating a table found instead of files (an error's rule and message).

    Returns
    -------
    str or None
        64 hex characters; None when a file cannot be read (no cache for that validation).

    Examples
    --------
    >>> k = validation_key("bank", {}, {}, dt.date(2025, 1, 1))
    >>> k == validation_key("bank", {}, {}, dt.date(2025, 1, 2))
    False
    """
    try:
        tables = {t: [[str(p), file_digest(p)] for p in paths] for t, paths in files.items()}
    except OSError:
        return None
    doc = {
        "format": FORMAT,
        "segml": _version(),
        "duckdb": duckdb.__version__,
        "contract": contract_digest(),
        "folder": str(folder),
        "reference_date": reference_date.isoformat(),
        "mapping": _mapping_doc(mapping),
        "tables": tables,
        "located": dict(located or {}),
    }
    return text_digest(json.dumps(doc, sort_keys=True, default=str))


def _version() -> str:
    from segml import __version__

    return __version__


def _entry(key: str) -> Path:
    return cache_dir() / f"{key}.json"


def load(key: str) -> ValidationReport | None:
    """The report stored under ``key``, with ``cached`` set; None on a miss.

    A missing, unreadable or corrupt entry is a miss (never an error).

    Examples
    --------
    >>> load("0" * 64) is None
    True
    """
    path = _entry(key)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("key") != key or doc.get("format") != FORMAT:
            return None
        report = ValidationReport.from_dict(doc["report"])
        if report.ok != doc["report"]["ok"]:
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    report.cached = True
    with contextlib.suppress(OSError):  # most recently used: the last to be pruned
        os.utime(path)
    return report


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (links resolved)."""
    try:
        path, folder = path.resolve(), folder.resolve()
    except OSError:
        return True  # cannot tell: stay out
    return path == folder or folder in path.parents


def store(key: str, report: ValidationReport, folder: str | os.PathLike[str]) -> bool:
    """Keep ``report`` under ``key``; return whether it was stored.

    The entry is written to a temporary file in the cache folder and renamed into place, so a
    reader never sees half an entry. Nothing is written when the cache folder would lie inside
    ``folder`` (the bank's folder is only read) or cannot be written.

    Examples
    --------
    >>> key = validation_key("bank", {}, {}, dt.date(2025, 1, 1))
    >>> store(key, ValidationReport("bank"), "bank")  # doctest: +SKIP
    True
    >>> load(key).cached  # doctest: +SKIP
    True
    """
    where = cache_dir()
    if _inside(where, Path(folder)):
        return False
    doc = {"format": FORMAT, "key": key, "report": report.to_dict()}
    tmp = None
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=where)  # mode 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, _entry(key))
        tmp = None
        _prune(where)
    except OSError:
        return False
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return True


def _prune(where: Path, keep: int = MAX_ENTRIES) -> None:
    """Remove the least recently used entries beyond ``keep``."""
    entries = list(where.glob("*.json"))
    if len(entries) <= keep:
        return
    by_age = []
    for path in entries:
        with contextlib.suppress(OSError):
            by_age.append((path.stat().st_mtime, path))
    for _, path in sorted(by_age)[: len(by_age) - keep]:
        with contextlib.suppress(OSError):
            path.unlink()
