"""Write docs/data_contract.md from segml.contract, so the doc is the contract.

Run `python tools/write_contract_doc.py` after changing src/segml/contract.py;
tests/test_setup.py fails while the two differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from segml.contract import CONTRACT, CROSS_RULES, PRODUCTS, ColumnSpec

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
  `.tsv`), or a folder of Parquet parts `transactions/part-*.parquet` for big tables. A table
  present in two formats is an error (`ambiguous_table`).
* CSV files are read as UTF-8 text with a header row and typed by the contract; a value that does
  not parse as its column's type is reported (`type`), never silently set to missing. An
  integer column holding a fraction (`12.5`, also in a Parquet float column) is a `type` error,
  never rounded; `12.0` is the integer 12.
* Validation only reads: files are never modified, and it runs out of core in DuckDB, so a
  hundred-million-row transaction log is checked without loading it into memory.

## Conventions

* **Identifiers** (`*_id`) are text; integer ids are read as their decimal text. Ids must be
  printable ASCII without padding: full-width digits (`Ｃ０１`), stray spaces or spreadsheet
  damage (`123.0`) break joins and are errors (`id_format`).
* **Money** is in the reporting currency as a positive amount. A transaction's sign is its
  `direction`: `credit` is money into the account, `debit` money out of it. Loan balances are
  positive outstanding amounts.
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
  `--reference-date` to check an extract as of its extraction date.

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
    if col.not_future:
        parts.append("not in the future")
    return "; ".join(parts)


def render() -> str:
    """The whole document."""
    out = [INTRO, "## Tables\n"]
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
