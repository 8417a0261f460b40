"""Reading a folder of contract tables (Parquet or CSV) into DuckDB, and writing outputs safely.

A bank's extract is a folder with one file (or one folder of Parquet parts) per contract table:
``customers.parquet``, ``accounts.csv``, ``transactions/part-0001.parquet`` and so on. A
:class:`TableMapping` maps the bank's own file, column and code names onto the contract, so the
extract itself never has to be edited. Nothing here writes to the input folder.

Three modules, one concept each: :mod:`segml.io.mapping` (the bank's names, YAML read with the
place of a bad document), :mod:`segml.io.tables` (locating the tables and registering them in
DuckDB as typed views) and :mod:`segml.io.outputs` (atomic files and folders, clear errors, and
the checks that an output never replaces an input). Their public names are importable from
``segml.io``.
"""

from segml.io.mapping import TableMapping, checked, load_mapping, parse_yaml, read_yaml
from segml.io.outputs import (
    OutputError,
    atomic_file,
    atomic_output_dir,
    check_can_create,
    check_output_file,
    check_output_folder,
    check_output_path,
    output_error,
    remove_stale_temporaries,
    resolved,
    writing,
)
from segml.io.tables import (
    SUFFIXES,
    TableLocationError,
    TableSource,
    cast_sql,
    connect,
    disable_slow_optimizers,
    header_key,
    locate_table,
    parquet_time_zones,
    path_kind,
    quote,
    reader_sql,
    register_table,
    source_column,
    wall_clock_sql,
    written_headers,
)

__all__ = [
    "SUFFIXES",
    "OutputError",
    "TableLocationError",
    "TableMapping",
    "TableSource",
    "atomic_file",
    "atomic_output_dir",
    "cast_sql",
    "check_can_create",
    "check_output_file",
    "check_output_folder",
    "check_output_path",
    "checked",
    "connect",
    "disable_slow_optimizers",
    "header_key",
    "load_mapping",
    "locate_table",
    "output_error",
    "parquet_time_zones",
    "parse_yaml",
    "path_kind",
    "quote",
    "read_yaml",
    "reader_sql",
    "register_table",
    "remove_stale_temporaries",
    "resolved",
    "source_column",
    "wall_clock_sql",
    "writing",
    "written_headers",
]
