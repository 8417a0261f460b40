"""The validation cache: a folder validated once is not re-validated while its files are unchanged.

Each test has a cache folder of its own (``SEGML_CACHE_DIR``); conftest gives the session one
too, so no test ever reads a developer's cache.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segml import validation_cache
from segml.cli import app
from segml.contract import CROSS_RULES
from segml.data import load_bank
from segml.io import TableMapping, connect
from segml.progress import collect_steps
from segml.validate import ContractError, ValidationReport, validate_folder

REF = "2026-01-01"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder for this test alone, and the cache on whatever the caller's env says."""
    where = tmp_path / "cache"
    monkeypatch.setenv("SEGML_CACHE_DIR", str(where))
    monkeypatch.delenv("SEGML_NO_CACHE", raising=False)
    return where / "validation"


def check(folder: Path, **kw: object) -> tuple[ValidationReport, set[str]]:
    """Validate ``folder`` as of REF; return the report and the steps that ran."""
    kw.setdefault("reference_date", REF)
    with collect_steps() as steps:
        report = validate_folder(folder, **kw)  # type: ignore[arg-type]
    return report, set(steps)


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (hidden ones too): size and modification time (ns)."""
    return {
        str(f.relative_to(folder)): (f.stat().st_size, f.stat().st_mtime_ns)
        for f in sorted(folder.rglob("*"))
    }


def as_csv(folder: Path, table: str) -> Path:
    """Replace ``table``'s Parquet file by a CSV of the same rows."""
    path = folder / f"{table}.parquet"
    pd.read_parquet(path).to_csv(folder / f"{table}.csv", index=False)
    path.unlink()
    return folder / f"{table}.csv"


def test_a_second_validation_is_a_hit_and_equals_the_first(bank_copy: Path, own_cache) -> None:
    first, ran = check(bank_copy)
    assert first.ok and not first.cached, first.summary()
    assert "table_transactions" in ran and "cross_table_rules" in ran
    con = connect()
    second, ran = check(bank_copy, con=con)
    assert second.cached
    assert not {s for s in ran if s.startswith("table_")} and "cross_table_rules" not in ran
    assert "cached_validation" in ran
    assert second == first
    assert second.to_dict() == first.to_dict() and second.summary() == first.summary()
    # the typed views are there, as a full validation leaves them
    for table, n in first.row_counts.items():
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n
    assert con.execute("SELECT typeof(timestamp) FROM transactions LIMIT 1").fetchone()[0] == (
        "TIMESTAMP"
    )
    assert len(list(own_cache.glob("*.json"))) == 1


def test_one_changed_byte_re_validates_even_at_the_same_size_and_time(bank_copy: Path) -> None:
    csv = as_csv(bank_copy, "customers")
    first, _ = check(bank_copy)
    assert first.ok, first.summary()
    stat = csv.stat()
    data = csv.read_bytes()
    at = data.index(b",retail,")
    csv.write_bytes(data[:at] + b",retaiL," + data[at + 8 :])  # one byte, same size
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (csv.stat().st_size, csv.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    second, ran = check(bank_copy)
    assert not second.cached and "table_customers" in ran
    assert [(i.table, i.column, i.rule) for i in second.errors] == [
        ("customers", "customer_type", "allowed")
    ]


def test_another_reference_date_or_mapping_re_validates(bank_copy: Path) -> None:
    first, _ = check(bank_copy)
    later, _ = check(bank_copy, reference_date="2026-06-30")
    assert not later.cached
    mapping = {"customers": TableMapping(file="customers.parquet")}
    mapped, _ = check(bank_copy, mapping=mapping)
    assert not mapped.cached and mapped == first
    renamed = {"customers": TableMapping(columns={"region": "region"})}
    assert not check(bank_copy, mapping=renamed)[0].cached  # any change of content counts
    assert check(bank_copy, mapping=mapping)[0].cached
    assert check(bank_copy, reference_date=dt.date(2026, 6, 30))[0].cached


def test_a_corrupt_or_foreign_entry_re_validates(bank_copy: Path, own_cache: Path) -> None:
    first, _ = check(bank_copy)
    (entry,) = own_cache.glob("*.json")
    good = entry.read_text()
    for bad in ("{not json", '{"format": 1}', json.dumps({**json.loads(good), "key": "x"}), ""):
        entry.write_text(bad)
        again, ran = check(bank_copy)
        assert not again.cached and "table_transactions" in ran and again == first
    assert entry.read_text() == good  # rewritten by the last full validation
    assert check(bank_copy)[0].cached


def test_the_bank_folder_is_never_written(bank_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = listing(bank_copy)
    check(bank_copy)
    assert check(bank_copy)[0].cached
    assert listing(bank_copy) == before
    # a cache folder inside the bank's folder is not used for writing
    monkeypatch.setenv("SEGML_CACHE_DIR", str(bank_copy / ".cache"))
    assert not check(bank_copy)[0].cached and not check(bank_copy)[0].cached
    assert listing(bank_copy) == before


def test_cache_false_and_segml_no_cache_always_validate(
    bank_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = check(bank_copy)
    forced, ran = check(bank_copy, cache=False)
    assert not forced.cached and "table_transactions" in ran and forced == first
    assert not load_bank(bank_copy, reference_date=REF, cache=False).report.cached
    monkeypatch.setenv("SEGML_NO_CACHE", "1")
    assert not check(bank_copy)[0].cached
    monkeypatch.setenv("SEGML_NO_CACHE", "0")
    assert check(bank_copy)[0].cached
    assert load_bank(bank_copy, reference_date=REF).report.cached


def test_an_invalid_folder_keeps_its_errors_and_still_raises(bank_copy: Path) -> None:
    path = bank_copy / "customers.parquet"
    df = pd.read_parquet(path)
    df.loc[3, "customer_type"] = "robot"
    df.to_parquet(path, index=False)
    first, _ = check(bank_copy)
    second, _ = check(bank_copy)
    assert not first.ok and second.cached and second == first
    assert second.errors[0].rule == "allowed" and second.errors[0].examples
    for _ in range(2):
        with pytest.raises(ContractError, match="customer_type") as err:
            load_bank(bank_copy, reference_date=REF)
        assert err.value.report == first


def test_an_unwritable_cache_is_ignored(bank_copy: Path, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SEGML_CACHE_DIR", str(blocker))
    first, _ = check(bank_copy)
    second, _ = check(bank_copy)
    assert first.ok and not second.cached and second == first


def test_the_key_covers_contract_version_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "customers.csv"
    f.write_text("customer_id\nC1\n")
    files, day = {"customers": [f]}, dt.date(2026, 1, 1)
    key = validation_cache.validation_key(tmp_path, files, {}, day)
    assert key == validation_cache.validation_key(tmp_path, files, {}, day)
    assert key != validation_cache.validation_key(tmp_path, {"customers": []}, {}, day)
    assert key != validation_cache.validation_key(tmp_path, files, {}, day, {"accounts": "x"})
    monkeypatch.setattr(validation_cache, "CROSS_RULES", CROSS_RULES[:-1])
    assert key != validation_cache.validation_key(tmp_path, files, {}, day)
    monkeypatch.undo()
    monkeypatch.setattr(validation_cache, "_version", lambda: "99.0")
    assert key != validation_cache.validation_key(tmp_path, files, {}, day)
    f.unlink()
    assert validation_cache.validation_key(tmp_path, files, {}, day) is None


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGML_CACHE_DIR", "/x/segml-cache")
    assert validation_cache.cache_dir() == Path("/x/segml-cache/validation")
    monkeypatch.delenv("SEGML_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/xdg")
    assert validation_cache.cache_dir() == Path("/x/xdg/segml/validation")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/x/home")
    assert validation_cache.cache_dir() == Path("/x/home/.cache/segml/validation")


def test_old_entries_are_pruned(tmp_path: Path, own_cache: Path) -> None:
    own_cache.mkdir(parents=True)
    for i in range(5):
        (own_cache / f"{i:064x}.json").write_text("{}")
        os.utime(own_cache / f"{i:064x}.json", (i, i))
    validation_cache._prune(own_cache, keep=2)
    assert sorted(p.name[-6:] for p in own_cache.glob("*.json")) == ["3.json", "4.json"]


def test_cli_says_when_the_report_came_from_the_cache(bank_copy: Path) -> None:
    runner = CliRunner()
    args = ["validate", str(bank_copy), "--reference-date", REF]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and "validation cache" not in first.output, first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "from the validation cache" in second.output
    assert "from the validation cache" not in runner.invoke(app, [*args, "--no-cache"]).output
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert doc["cached"] is True and doc["ok"] is True
