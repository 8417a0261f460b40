"""Data lineage and privacy for tracked runs: dataset digests, a data fingerprint, pseudonyms.

* :func:`log_contract_inputs` logs every contract table of a run as an MLflow dataset input
  (``mlflow.log_input``: name, local source, SHA-256 digest of the file), so the UI shows which
  exact data a run read; :func:`data_fingerprint` combines the digests into one.
* :func:`pseudonymize` replaces customer ids by keyed hashes (HMAC-SHA256) in the copies of the
  run's outputs that go to MLflow when ``tracking.pseudonymize`` is set. The key is
  ``SEGML_PSEUDONYM_KEY`` when set (the same id gets the same pseudonym in every run, so runs
  can be joined by whoever holds the key) and otherwise a random key per run that is never
  stored (pseudonyms cannot be linked across runs). The local output folder keeps real ids:
  it is the bank's own data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

__all__ = [
    "ID_COLUMNS",
    "copy_pseudonymized",
    "data_fingerprint",
    "file_digest",
    "log_contract_inputs",
    "pseudonym_key",
    "pseudonymize",
]

#: Columns holding customer ids in segml's outputs.
ID_COLUMNS = ("customer_id",)


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_fingerprint(digests: dict[str, str]) -> str:
    """One digest for a set of named files (order-independent), 16 hex characters."""
    text = "\n".join(f"{k}:{v}" for k, v in sorted(digests.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def log_contract_inputs(folder: Path, tables: Iterable[str]) -> dict[str, str]:
    """Log each ``<table>.parquet`` (or ``.csv``) of ``folder`` as an input of the active run.

    Returns
    -------
    dict
        Table name → SHA-256 digest of its file.
    """
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    digests = {}
    for table in tables:
        found = [folder / f"{table}.{ext}" for ext in ("parquet", "csv")]
        path = next((p for p in found if p.is_file()), None)
        if path is None:
            continue
        digest = file_digest(path)
        digests[table] = digest
        with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local file
            warnings.filterwarnings("ignore", message="The specified dataset source")
            source = resolve_dataset_source(str(path.resolve()))
        mlflow.log_input(MetaDataset(source, name=table, digest=digest[:16]), context="contract")
    return digests


def pseudonym_key() -> bytes:
    """``SEGML_PSEUDONYM_KEY`` (UTF-8), else a fresh random key."""
    env = os.environ.get("SEGML_PSEUDONYM_KEY")
    return env.encode() if env else secrets.token_bytes(32)


def pseudonymize(ids: pd.Series | np.ndarray, key: bytes) -> np.ndarray:
    """Keyed, irreversible pseudonyms (``p_`` + 16 hex characters) of customer ids."""
    values = pd.Series(np.asarray(ids, dtype=object))
    uniq = values.dropna().astype(str).unique()
    table = {u: "p_" + hmac.new(key, u.encode(), hashlib.sha256).hexdigest()[:16] for u in uniq}
    return values.astype(object).map(lambda v: None if pd.isna(v) else table[str(v)]).to_numpy()


def copy_pseudonymized(src: Path, dst: Path, key: bytes, skip: tuple[str, ...] = ("_waterfall_",)) -> None:  # fmt: skip
    """Copy a run's output folder with customer ids pseudonymised.

    Parquet files get their id columns replaced; files whose names carry a customer id
    (``skip``: the per-customer waterfall figures) are left out; other files are copied.
    """
    for path in sorted(src.rglob("*")):
        if not path.is_file() or any(s in path.name for s in skip):
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet" and set(ID_COLUMNS) & set(pq.read_schema(path).names):
            df = pd.read_parquet(path)
            for c in ID_COLUMNS:
                if c in df.columns:
                    df[c] = pseudonymize(df[c], key)
            df.to_parquet(target, index=False)
        else:
            shutil.copy2(path, target)
