"""Validate a folder of bank tables against the data contract, with errors that name the rows.

Every check is a DuckDB query over the files themselves (Parquet or CSV, out of core), so a
100-million-row transaction log is checked without loading it into memory, and the input folder
is only read. Each failed check becomes a :class:`Issue` naming the table, the column, the rule,
how many rows break it and the first offending keys and values.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
from collections.abc import Mapping
from pathlib import Path

import duckdb

from segml.contract import (
    CONTRACT,
    CROSS_RULES,
    MIN_DATE,
    ColumnSpec,
    Severity,
    TableSpec,
    isolated_day_edges,
)
from segml.io import (
    TableLocationError,
    TableMapping,
    TableSource,
    cast_sql,
    connect,
    locate_table,
    path_kind,
    quote,
    register_table,
)
from segml.progress import step
from segml.validation_cache import enabled, load, store, validation_key
from segml.validation_keys import INTEGER_TYPES, duplicate_keys
from segml.validation_report import ContractError, Issue, ValidationReport, format_cell

__all__ = ["N_EXAMPLES", "ContractError", "Issue", "ValidationReport", "validate_folder"]

N_EXAMPLES = 5


def _column_checks(
    col: ColumnSpec, ref: dt.date, raw_type: str | None = None
) -> list[tuple[str, str, str, Severity]]:
    """(rule, SQL condition on raw column r and typed column t, message) for one column.

    ``raw_type``: the DuckDB type the column was read as. An id read as an integer is written
    as digits (and a sign) by the cast to text, so it cannot break the id format: that rule is
    left out rather than run (two regular expressions per row: ~10 s of a 1M-customer bank's
    144.5M transactions).
    """
    r, t = quote(f"raw:{col.name}"), quote(f"typ:{col.name}")
    checks: list[tuple[str, str, str, Severity]] = []
    if not col.nullable:
        checks.append(("not_null", f"{r} IS NULL", "missing values", "error"))
    if col.dtype in ("int", "float", "bool", "date", "timestamp"):
        checks.append(
            (
                "type",
                f"{r} IS NOT NULL AND {t} IS NULL",
                f"values that are not {col.dtype}",
                "error",
            )
        )
    if col.dtype == "float":
        checks.append(("finite", f"NOT isfinite({t})", "NaN or infinite values", "error"))
    if col.dtype == "id" and raw_type not in INTEGER_TYPES:
        checks.append(
            (
                "id_format",
                f"{t} <> trim({t}) OR {t} = '' OR regexp_matches({t}, '[^\\x21-\\x7E]') "
                f"OR regexp_matches({t}, '^[0-9]+\\.0+$')",
                "ids must be printable ASCII with no padding or float suffix "
                "(mixed encodings, full-width digits or '123.0' break joins)",
                "error",
            )
        )
    if col.allowed is not None:
        allowed = ", ".join("'" + a + "'" for a in col.allowed)
        checks.append(
            (
                "allowed",
                f"{t} NOT IN ({allowed})",
                f"values outside the allowed set ({', '.join(col.allowed)})",
                "error",
            )
        )
    if col.min is not None:
        checks.append(("min", f"{t} < {col.min}", f"values below {col.min:g}", "error"))
    if col.max is not None:  # NaN is no value: the finite rule's (DuckDB sorts it above all)
        above = f"{t} > {col.max}" + (f" AND NOT isnan({t})" if col.dtype == "float" else "")
        checks.append(("max", above, f"values above {col.max:g}", "error"))
    if col.dtype in ("date", "timestamp"):
        early = f"dates before {MIN_DATE}, the contract's earliest date (placeholders or typos)"
        checks.append(("too_early", f"{t} < DATE '{MIN_DATE}'", early, "error"))
    if col.not_future:
        bound = f"DATE '{ref + dt.timedelta(days=1)}'"
        checks.append(
            ("future", f"{t} >= {bound}", f"dates after the reference date {ref}", "error")
        )
    return checks


def _keys_sql(spec: TableSpec) -> str:
    return ", ".join(quote(f"raw:{k}") for k in spec.primary_key)


def _example_strings(rows: list[tuple], key_names: list[str], value_name: str) -> tuple[str, ...]:
    out = []
    for row in rows:
        keys = ", ".join(f"{k}={format_cell(v)}" for k, v in zip(key_names, row[:-1], strict=True))
        out.append(f"{keys} ({value_name}={format_cell(row[-1])})")
    return tuple(out)


def _header_issues(src: TableSource, report: ValidationReport) -> None:
    """Report missing required columns and the columns read under another spelling; record
    the absent optional ones."""
    name = src.spec.name
    found = ", ".join(src.source_columns[:30]) + (" …" if len(src.source_columns) > 30 else "")
    for col in src.missing:
        mapped = src.renamed.get(col)
        via = f" (the mapping names it {mapped!r})" if mapped else ""
        report.issues.append(
            Issue(
                name,
                col,
                "missing_column",
                f"required column is missing from the extract{via}; columns found: {found}",
            )
        )
    report.absent_columns[name] = list(src.absent)
    case = {c: s for c, s in src.case_matched.items() if s.lower() == c.lower()}
    loose = {c: s for c, s in src.case_matched.items() if c not in case}
    if case:
        pairs = ", ".join(f"{s!r} as {c!r}" for c, s in case.items())
        msg = f"columns read regardless of case: {pairs}"
        report.issues.append(Issue(name, None, "column_case", msg, severity="warning"))
    if loose:
        pairs = ", ".join(f"{s!r} as {c!r}" for c, s in loose.items())
        msg = f"headers read without their surrounding spaces or control characters: {pairs}"
        report.issues.append(Issue(name, None, "column_name", msg, severity="warning"))


def _checked_sql(spec: TableSpec, raw_view: str) -> str:
    """A subquery of every contract column twice: ``raw:<name>`` as read, ``typ:<name>`` typed."""
    parts = ", ".join(
        f"{quote(c.name)} AS {quote('raw:' + c.name)}, {cast_sql(quote(c.name), c)} AS "
        f"{quote('typ:' + c.name)}"
        for c in spec.columns
    )
    return f"(SELECT {parts} FROM {raw_view}) chk"


def _check_table(
    con: duckdb.DuckDBPyConnection, src: TableSource, ref: dt.date, report: ValidationReport
) -> set[str]:
    """Run the single-table checks; return the columns that are broken (type/null errors)."""
    spec, name = src.spec, src.spec.name
    _header_issues(src, report)
    n = con.execute(f"SELECT count(*) FROM {src.raw_view}").fetchall()[0][0]
    report.row_counts[name] = n
    if n == 0:
        # an optional table may legitimately be empty (e.g. no complaints in the period)
        sev: Severity = "error" if spec.required else "warning"
        report.issues.append(Issue(name, None, "empty", "the table has no rows", severity=sev))
        return set(spec.column_names)
    checks = []
    rel = con.sql(f"SELECT * FROM {src.raw_view}")
    raw_types = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)}
    for col in spec.columns:
        if col.name in src.present:
            checks += [(col, *c) for c in _column_checks(col, ref, raw_types.get(col.name))]
    join = _checked_sql(spec, src.raw_view)
    broken: set[str] = set(src.missing)
    if checks:
        aggs = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, _, cond, _, _ in checks)
        counts = con.execute(f"SELECT {aggs} FROM {join}").fetchall()[0]
        for (col, rule, cond, msg, sev), cnt in zip(checks, counts, strict=True):
            if not cnt:
                continue
            ex = _examples(con, spec, join, col.name, cond)
            report.issues.append(Issue(name, col.name, rule, msg, cnt, ex, sev))
            if rule in _BREAKING and sev == "error":
                broken.add(col.name)
    _isolated_dates(con, src, join, ref, report)
    duplicate_keys(con, src, report, N_EXAMPLES)
    return broken


#: Rules whose errors make a column unusable by the rules across tables.
_BREAKING = ("type", "not_null", "id_format", "future", "too_early")


def _examples(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, join: str, column: str, cond: str
) -> tuple[str, ...]:
    """The first offending rows' keys and raw values, as ``key=... (column=...)``."""
    rows = con.execute(
        f"SELECT {_keys_sql(spec)}, {quote('raw:' + column)} FROM {join} "
        f"WHERE {cond} LIMIT {N_EXAMPLES}"
    ).fetchall()
    return _example_strings(rows, list(spec.primary_key), column)


def _isolated_dates(
    con: duckdb.DuckDBPyConnection,
    src: TableSource,
    join: str,
    ref: dt.date,
    report: ValidationReport,
) -> None:
    """Warn of dates isolated from the bulk of their column (:func:`isolated_day_edges`).

    Only the dates the contract accepts count (from :data:`MIN_DATE` to the reference date):
    the others are errors already. A warning, not an error: a genuine record can be isolated
    (an account kept from a migrated system), and the features only read a customer's own
    records before the as-of date.
    """
    last = ref + dt.timedelta(days=1)
    for col in src.spec.columns:
        if col.dtype not in ("date", "timestamp") or col.name not in src.present:
            continue
        t = quote(f"typ:{col.name}")
        day = f"CAST({t} AS DATE)"
        ok = f"{t} >= DATE '{MIN_DATE}' AND {t} < DATE '{last}'"
        hist = con.execute(
            f"SELECT {day}, count(*) FROM {join} WHERE {ok} GROUP BY 1 ORDER BY 1"
        ).fetchall()
        lo, hi = isolated_day_edges([d for d, _ in hist], [c for _, c in hist])
        if lo is None and hi is None:
            continue
        outside = " OR ".join(
            cond
            for cond, edge in ((f"{day} < DATE '{lo}'", lo), (f"{day} > DATE '{hi}'", hi))
            if edge is not None
        )
        cond = f"{ok} AND ({outside})"
        cnt = sum(c for d, c in hist if (lo and d < lo) or (hi and d > hi))
        bulk = f"{lo or hist[0][0]} … {hi or hist[-1][0]}"
        msg = (
            "dates far from all others: a gap wider than three times the middle half of the "
            f"column's dates (and than a year) separates them from the rest, which run {bulk}; "
            "placeholders or typos?"
        )
        ex = _examples(con, src.spec, join, col.name, cond)
        report.issues.append(
            Issue(src.spec.name, col.name, "isolated_date", msg, cnt, ex, "warning")
        )


def validate_folder(
    folder: str | os.PathLike[str],
    mapping: Mapping[str, TableMapping] | None = None,
    reference_date: dt.date | str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    cache: bool = True,
) -> ValidationReport:
    """Check every contract table in ``folder`` and the rules between them.

    A folder validated before with the same files (by content), mapping, reference date,
    contract and segml is not checked again: the report is read from the validation cache
    (:mod:`segml.validation_cache`, ``report.cached`` is True) and only the tables' views are
    registered on ``con``.

    Parameters
    ----------
    folder : path
        Folder holding ``customers``, ``accounts``, ``transactions`` and optionally
        ``balances``, ``interactions`` and ``corporate_financials`` as Parquet or CSV.
    mapping : dict of TableMapping, optional
        The bank's file, column and code names (see :func:`segml.io.load_mapping`).
    reference_date : date, optional
        Dates after it are "in the future" (default: today).
    con : DuckDB connection, optional
        Connection to register the tables' views on (reused by later stages).
    cache : bool
        False: run every rule even when the cache holds the outcome (``SEGML_NO_CACHE=1``
        does the same for every validation).

    Returns
    -------
    ValidationReport
        Never raises for bad data; call :meth:`ValidationReport.raise_for_errors`.

    Examples
    --------
    >>> bank = "data/raw/synthetic/bank"
    >>> report = validate_folder(bank, reference_date="2026-01-01")  # doctest: +SKIP
    >>> report.ok, report.cached  # doctest: +SKIP
    (True, False)
    >>> again = validate_folder(bank, reference_date="2026-01-01")  # doctest: +SKIP
    >>> again == report, again.cached  # doctest: +SKIP
    (True, True)
    """
    folder = Path(folder)
    mapping = dict(mapping or {})
    ref = _as_date(reference_date) if reference_date is not None else dt.date.today()
    report = ValidationReport(str(folder))
    try:
        is_folder = path_kind(folder) == "dir"
    except TableLocationError as exc:
        report.issues.append(Issue("*", None, exc.rule, str(exc)))
        return report
    if not is_folder:
        report.issues.append(Issue("*", None, "missing_folder", f"{folder} is not a folder"))
        return report
    con = con or connect()
    located = _locate_tables(folder, mapping)
    key = _fingerprint(folder, located, mapping, ref) if enabled(cache) else None
    cached = load(key) if key else None
    if cached is not None:
        with step("cached_validation"):
            _register_views(con, located, mapping)
        return cached
    _check_tables(con, folder, located, mapping, ref, report)
    if key and key == _fingerprint(folder, located, mapping, ref):  # unchanged while checked
        store(key, report, folder)
    return report


def _locate_tables(
    folder: Path, mapping: Mapping[str, TableMapping]
) -> dict[str, list[Path] | TableLocationError]:
    """Each contract table's files in ``folder`` (empty: absent), or why they cannot be used."""
    located: dict[str, list[Path] | TableLocationError] = {}
    for name in CONTRACT:
        try:
            located[name] = locate_table(folder, name, mapping.get(name))
        except TableLocationError as exc:
            located[name] = exc
    return located


def _fingerprint(
    folder: Path,
    located: Mapping[str, list[Path] | TableLocationError],
    mapping: Mapping[str, TableMapping],
    ref: dt.date,
) -> str | None:
    """The validation cache's key of this validation (None: a file cannot be read)."""
    files = {t: f for t, f in located.items() if isinstance(f, list)}
    errors = {t: f"{e.rule}: {e}" for t, e in located.items() if isinstance(e, Exception)}
    with step("file_digests"):
        return validation_key(folder, files, mapping, ref, errors)


def _register_views(
    con: duckdb.DuckDBPyConnection,
    located: Mapping[str, list[Path] | TableLocationError],
    mapping: Mapping[str, TableMapping],
) -> None:
    """Register the typed views of the tables found (those DuckDB cannot read are skipped:
    the report names them)."""
    for name, files in located.items():
        if isinstance(files, list) and files:
            try:
                register_table(con, CONTRACT[name], files, mapping.get(name))
            except duckdb.Error:
                continue


def _check_tables(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    located: Mapping[str, list[Path] | TableLocationError],
    mapping: Mapping[str, TableMapping],
    ref: dt.date,
    report: ValidationReport,
) -> None:
    """Run every rule: each table's own (registering its views), then those across tables."""
    sources: dict[str, TableSource] = {}
    broken: dict[str, set[str]] = {}
    for name, spec in CONTRACT.items():
        files = located[name]
        if isinstance(files, TableLocationError):
            report.issues.append(Issue(name, None, files.rule, str(files)))
            continue
        if not files:
            if spec.required:
                report.issues.append(_missing_table(folder, name, mapping.get(name)))
            else:
                report.absent_tables.append(name)
            continue
        report.files[name] = [str(f) for f in files]
        try:
            src = register_table(con, spec, files, mapping.get(name))
            with step(f"table_{name}"):
                broken[name] = _check_table(con, src, ref, report)
        except duckdb.Error as exc:
            report.issues.append(_unreadable(name, files, exc))
            continue
        sources[name] = src
    with step("cross_table_rules"):
        _cross_rules(con, sources, broken, report)


def _missing_table(folder: Path, name: str, mapped: TableMapping | None) -> Issue:
    """The ``missing_table`` issue of a required table, naming where it was looked for."""
    where = (
        f"the mapping's file {mapped.file!r} is not in {folder} (or holds no .parquet or .csv "
        "parts)"
        if mapped is not None and mapped.file
        else f"no {name}.parquet or {name}.csv in {folder}"
    )
    return Issue(name, None, "missing_table", where)


def _cross_rules(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, TableSource],
    broken: dict[str, set[str]],
    report: ValidationReport,
) -> None:
    rules = [r for r in CROSS_RULES if _rule_checkable(r.needs, sources, broken)]
    counts: dict[int, int] = {}
    shared: dict[str, list[int]] = {}  # rules counted together in one pass over their scan
    for i, rule in enumerate(rules):
        if rule.scan:
            shared.setdefault(rule.scan, []).append(i)
        else:
            counts[i] = con.execute(f"SELECT count(*) FROM ({rule.sql})").fetchall()[0][0]
    for scan, members in shared.items():
        aggs = ", ".join(f"count(*) FILTER (WHERE {rules[i].where})" for i in members)
        counts.update(zip(members, con.execute(f"SELECT {aggs} FROM {scan}").fetchall()[0], strict=True))  # fmt: skip
    for i, rule in enumerate(rules):  # in the contract's order
        cnt = counts[i]
        if cnt:
            cur = con.execute(f"{rule.sql} LIMIT {N_EXAMPLES}")
            names = [d[0] for d in cur.description]
            ex = _example_strings(cur.fetchall(), names[:-1], rule.column)
            report.issues.append(
                Issue(rule.table, rule.column, rule.name, rule.description, cnt, ex, rule.severity)
            )


def _unreadable(name: str, files: list[Path], exc: duckdb.Error) -> Issue:
    """An ``unreadable`` issue naming the file, the line and the reason DuckDB gave."""
    text = str(exc)
    m = re.search(r"^\s*file = (.+)$", text, re.MULTILINE)
    path = Path(m.group(1).strip()) if m else files[0]
    m = re.search(r"CSV Error on Line: (\d+)", text)
    line = int(m.group(1)) if m else None
    if "Invalid unicode" in text or "not utf-8 encoded" in text:
        bad = _non_utf8_line(path, line) if line else None
        where = f" (first bad bytes on line {line:,})" if line else ""
        return Issue(
            name,
            None,
            "unreadable",
            f"cannot read {path}: the file is not valid UTF-8{where}; it probably mixes "
            "encodings (e.g. Latin-1 or GBK ids among UTF-8 ones). Re-export it as UTF-8",
            examples=(bad,) if bad else (),
        )
    lines = text.splitlines()
    msg = lines[0]
    for cur, nxt in zip(lines, lines[1:], strict=False):  # DuckDB's CSV errors: reason follows
        if cur.startswith("Original Line:") and nxt.strip():
            msg += f": {nxt.strip()}"
            break
    return Issue(name, None, "unreadable", f"cannot read {path}: {msg}")


def _non_utf8_line(path: Path, last: int) -> str | None:
    """``line N: b'...'`` for the first line of ``path`` up to ``last`` that is not UTF-8."""
    if path.suffix not in (".csv", ".tsv", ".gz"):
        return None
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            for i, raw in enumerate(f, 1):
                if i > last:
                    break
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    shown = raw[max(0, err.start - 60) : err.start + 20].rstrip(b"\r\n")
                    return f"line {i}: {shown!r}"
    except OSError:
        return None
    return None


def _as_date(value: dt.date | str) -> dt.date:
    """A date from a date, datetime, pandas Timestamp or ISO string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _rule_checkable(
    needs: tuple[str, ...], sources: Mapping[str, TableSource], broken: Mapping[str, set[str]]
) -> bool:
    for ref in needs:
        table, col = ref.split(".")
        if table not in sources or col not in sources[table].present or col in broken[table]:
            return False
    return True
