"""The bank's names for the contract's files, columns and codes (:class:`TableMapping`), and
the one reader of YAML files that says where a bad document is."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from segml.contract import CONTRACT

T = TypeVar("T")


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
