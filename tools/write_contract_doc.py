"""Write docs/data_contract.md from segml.contract, so the doc is the contract.

Run `python tools/write_contract_doc.py` after changing src/segml/contract.py;
tests/test_setup.py fails while the two differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from segml.contract import (
    CONTRACT,
    CROSS_RULES,
    ISOLATING_GAP_IQRS,
    MAX_MONEY,
    MIN_DATE,
    MIN_ISOLATING_GAP_DAYS,
    PRODUCTS,
    ColumnSpec,
)

ROOT = Path(__file__).resolve().parents[1]

INTRO = """\
# The bank data contract

segml reads a bank as a folder of tables. Map your warehouse onto these tables once (a YAML
mapping renames your files, columns and codes; nothing in your extract is edited) and every
stage of segml runs on it. `segml validate DIR` checks a folder against everything below and
exits 0 when it is valid; otherwise it exits 1 and names, for each broken rule, the table, the
column, the rule, how many rows break it and the first offending keys and values.

```bash
segml validate data/raw/my_bank                     # exit 0: valid
segml validate data/raw/my_bank --mapping map.yaml  # with your own names
segml validate data/raw/my_bank --json              # machine-readable report
```

## Files

* One file per table, named after it: `customers.parquet` or `customers.csv` (also `.csv.gz`,
  `.tsv`), or a folder of Parquet parts `transactions/part-*.parquet` for big tables; a folder
  named like a file, `customers.parquet/part-*.parquet` (a Parquet dataset as Spark writes
  it), is read as its parts. A table present in two formats is an error (`ambiguous_table`); so
  are a folder named like a table's file that holds no parts (`not_a_file`), a symbolic link
  that leads back to itself (`symlink_loop`) and a link to nothing (`broken_link`), each named
  by its path.
* CSV files are read as UTF-8 text with a header row and typed by the contract; a value that does
  not parse as its column's type is reported (`type`), never silently set to missing. An
  integer column holding a fraction (`12.5`, also in a Parquet float column) is a `type` error,
  never rounded; `12.0` is the integer 12.
* A header is matched to its contract column regardless of case (`CUSTOMER_ID`: warning
  `column_case`) and of surrounding spaces and control characters (`employees\\0`, ` age `,
  `balance\\t`: warning `column_name`); each warning names the headers as written. An optional
  column the extract lacks is read as all missing and listed in the summary ("absent optional
  columns"; `absent_columns` in `--json`), as are the optional tables the folder lacks.
* Validation only reads: files are never modified, and it runs out of core in DuckDB, so a
  hundred-million-row transaction log is checked without loading it into memory.

## Conventions

* **Identifiers** (`*_id`) are text; integer ids are read as their decimal text. Ids must be
  printable ASCII without padding: full-width digits (`Ｃ０１`), stray spaces or spreadsheet
  damage (`123.0`) break joins and are errors (`id_format`).
* **Money** is in the reporting currency as a positive amount. A transaction's sign is its
  `direction`: `credit` is money into the account, `debit` money out of it. Loan balances are
  positive outstanding amounts. No amount may exceed @MAX_MONEY@ in size (`max`, and `min` for
  the signed `net_income`): the features add a customer's money exactly in DuckDB's
  `DECIMAL(38, 6)`, which holds less than 1e+32, and a sum of n amounts of at most @MAX_MONEY@
  stays below n × @MAX_MONEY@, so it fits for any customer with fewer than @MAX_ROWS@ rows (the
  largest extracts hold billions of rows in all). No bank amount comes near @MAX_MONEY@: even
  in Iranian rials (about a million to the US dollar) it is a trillion dollars.
* **Time zones**: dates and times are taken at the wall-clock time written, whatever the
  machine's time zone. A Parquet timestamp stored with a zone (e.g. `Asia/Shanghai`, `+08:00`)
  is read in that zone, `2022-06-26 05:54:52+08:00` is 26 June; a CSV value with an offset is
  read at its written time (the offset is dropped). Converting to UTC would move evening and
  early-morning events to another day.
* **Time**: `balances.month` is the first day of the month it describes; a month's balance is
  known at the month's end. A corporate statement is known from its `report_date`.
  Point-in-time features at date *t* use only records known by *t*.
* **Rates** are fractions per year (0.035 = 3.5%).
* **Dates in the future** (after the reference date, today by default) are errors; pass
  `--reference-date` to check an extract as of its extraction date. **Dates before
  @MIN_DATE@** are errors too (`too_early`: placeholders such as `0001-01-01` or Excel's
  `1899-12-30`). A date **isolated** far from the rest of its column is a warning
  (`isolated_date`, with the rows): going outward from the middle half of the column's dates
  (between its quartiles), the first gap with no dates that is wider than @IQRS@ times that
  middle half, and than @GAP@ days, cuts off every date beyond it (a `1970-01-01` among
  2021-2025 transactions, `2052` typed for `2025`); a long history without such a gap has no
  isolated dates, nor has a column's thin early tail. A
  warning, not an error: a genuine record can be isolated (an account migrated from an old
  system) and the features use only each customer's own records before the as-of date.
  `segml clv fit`, whose periods come from the log's first and last days, refuses them.

## Mapping your own names

```yaml
# map.yaml: contract table -> your file, your column names, your codes
customers:
  file: CUST_MASTER.csv
  columns: {customer_id: cust_no, open_date: rel_start}
accounts:
  columns: {customer_id: cust_no}
  values:
    product: {CA: current_account, TD: term_deposit, ML: mortgage}
```
"""

TYPES = {
    "id": "identifier (text)",
    "string": "text",
    "category": "one of a fixed set",
    "int": "integer",
    "float": "number",
    "bool": "true/false",
    "date": "date",
    "timestamp": "date and time",
}


def _rules(col: ColumnSpec) -> str:
    parts = []
    if col.allowed is not None:
        vals = ", ".join(f"`{v}`" for v in col.allowed)
        parts.append(f"one of {vals}")
    if col.min is not None:
        parts.append(f"≥ {col.min:g}")
    if col.max is not None:
        parts.append(f"≤ {col.max:g}")
    if col.dtype == "float":
        parts.append("finite")
    if col.dtype in ("date", "timestamp"):
        parts.append(f"from {MIN_DATE}")
    if col.not_future:
        parts.append("not in the future")
    return "; ".join(parts)


def render() -> str:
    """The whole document."""
    intro = (
        INTRO.replace("@MAX_MONEY@", f"{MAX_MONEY:g}")
        .replace("@MAX_ROWS@", f"{1e32 / MAX_MONEY:g}")
        .replace("@MIN_DATE@", str(MIN_DATE))
        .replace("@GAP@", str(MIN_ISOLATING_GAP_DAYS))
        .replace("@IQRS@", str(ISOLATING_GAP_IQRS))
    )
    out = [intro, "## Tables\n"]
    for t in CONTRACT.values():
        need = "required" if t.required else "optional"
        keys = ", ".join(f"`{k}`" for k in t.primary_key)
        out.append(f"### `{t.name}`\n\n{t.description} ({need} table; key {keys}, unique.)\n")
        out.append("| column | type | presence | missing values | rules | unit | meaning |")
        out.append("|---|---|---|---|---|---|---|")
        for c in t.columns:
            presence = "required" if c.required else "optional"
            nulls = "allowed" if c.nullable else "not allowed"
            out.append(
                f"| `{c.name}` | {TYPES[c.dtype]} | {presence} | {nulls} | {_rules(c)} | "
                f"{c.unit} | {c.description} |"
            )
        out.append("")
    out.append("## Product catalogue\n")
    out.append("| product | family | balance-sheet side |\n|---|---|---|")
    out += [f"| `{p}` | {fam} | {side} |" for p, (fam, side) in PRODUCTS.items()]
    out.append("\n## Rules across rows and tables\n")
    out.append("Besides each column's type, presence, range and allowed values, and each table's")
    out.append("unique key (`duplicate_key`) and non-emptiness (`empty`):\n")
    out.append("| table.column | rule | what must hold | severity |\n|---|---|---|---|")
    out += [
        f"| `{r.table}.{r.column}` | `{r.name}` | {r.description} | {r.severity} |"
        for r in CROSS_RULES
    ]
    out.append(
        "\nA rule across tables is checked only when the columns it needs are present, "
        "well-typed and\nnot in the future, so one broken column is reported once, not again by "
        "every rule that uses it\n(a customer opened in 2030 is not also an account opened "
        "before its customer).\n"
    )
    return "\n".join(out)


if __name__ == "__main__":
    path = ROOT / "docs" / "data_contract.md"
    path.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {path}\n")
