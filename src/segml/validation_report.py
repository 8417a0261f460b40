"""What a validation found: :class:`Issue` (one broken rule), :class:`ValidationReport` (every
issue, the row counts and the files read) and :class:`ContractError` (raised for a report with
errors). :mod:`segml.validate` makes reports; :mod:`segml.validation_cache` stores and rebuilds
them (:meth:`ValidationReport.from_dict`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from segml.contract import Severity

__all__ = ["ContractError", "Issue", "ValidationReport", "format_cell"]


def format_cell(v: object) -> str:
    """A cell as an issue's example quotes it: text quoted, dates in ISO form."""
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return str(v)


class ContractError(ValueError):
    """Raised when data break the contract; ``report`` holds every issue found."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.summary(errors_only=True))


@dataclass(frozen=True)
class Issue:
    """One broken rule: where, what, how many rows, and the first offending keys/values."""

    table: str
    column: str | None
    rule: str
    message: str
    count: int = 0
    examples: tuple[str, ...] = ()
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        head = f"[{self.severity}] {where} ({self.rule}): {self.message}"
        if self.count:
            head += f" — {self.count:,} row{'s' if self.count != 1 else ''}"
        if self.examples:
            head += "; first: " + "; ".join(self.examples)
        return head


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_folder`: issues, row counts and the files read.

    ``absent_columns`` lists, per table read, the optional contract columns the extract lacks
    (read as all missing); ``absent_tables`` the optional tables the folder lacks.
    """

    folder: str
    issues: list[Issue] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)
    absent_columns: dict[str, list[str]] = field(default_factory=dict)
    absent_tables: list[str] = field(default_factory=list)
    #: True when the report was read from the validation cache (:mod:`segml.validation_cache`):
    #: the files were unchanged since a full validation made it. Not part of equality.
    cached: bool = field(default=False, compare=False)

    @property
    def errors(self) -> list[Issue]:
        """Issues of severity ``error``."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """Issues of severity ``warning``."""
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no rule of severity ``error`` is broken."""
        return not self.errors

    def summary(self, errors_only: bool = False) -> str:
        """A human-readable account, one line per issue, then what the extract lacks.

        The absent optional tables and columns are listed unless ``errors_only``.
        """
        shown = self.errors if errors_only else self.issues
        status = "valid" if self.ok else f"INVALID ({len(self.errors)} error(s))"
        lines = [f"{self.folder}: {status}, {len(self.warnings)} warning(s)"]
        lines += [f"  {i}" for i in shown]
        if errors_only:
            return "\n".join(lines)
        if self.absent_tables:
            lines.append(f"  absent optional tables: {', '.join(self.absent_tables)}")
        cols = [f"{t}: {', '.join(c)}" for t, c in self.absent_columns.items() if c]
        if cols:
            lines.append("  absent optional columns (read as all missing): " + "; ".join(cols))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "folder": self.folder,
            "ok": self.ok,
            "row_counts": self.row_counts,
            "files": self.files,
            "absent_tables": self.absent_tables,
            "absent_columns": self.absent_columns,
            "issues": [asdict(i) for i in self.issues],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ValidationReport:
        """The report :meth:`to_dict` describes (after a JSON round trip too).

        Examples
        --------
        >>> rep = ValidationReport("bank", [Issue("customers", "age", "min", "too low", 2)])
        >>> ValidationReport.from_dict(rep.to_dict()) == rep
        True
        """
        issues = [Issue(**{**i, "examples": tuple(i["examples"])}) for i in doc["issues"]]
        return cls(
            folder=doc["folder"],
            issues=issues,
            row_counts={k: int(v) for k, v in doc["row_counts"].items()},
            files={k: list(v) for k, v in doc["files"].items()},
            absent_columns={k: list(v) for k, v in doc["absent_columns"].items()},
            absent_tables=list(doc["absent_tables"]),
        )

    def raise_for_errors(self) -> None:
        """Raise :class:`ContractError` if any error-level rule is broken."""
        if not self.ok:
            raise ContractError(self)
