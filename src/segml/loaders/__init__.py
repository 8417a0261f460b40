"""Adapters that turn public datasets (and any purchase log) into contract folders.

Each adapter writes a folder that :func:`segml.validate.validate_folder` accepts and reports
what it dropped in a :class:`LoadReport`. See ``docs/loaders.md``.

* :func:`load_cdnow`, :func:`cdnow_to_bank`: the CDNOW log shipped with ``lifetimes``.
* :func:`load_online_retail`, :func:`online_retail_to_bank`: the UCI Online Retail log.
* :func:`berka_to_bank`: the PKDD'99 Berka bank.
* :func:`transaction_log_to_bank`: any purchase log.
* :func:`read_dataset_record`: the ``dataset.json`` every adapter writes beside the tables
  (kind ``purchase_log`` or ``bank``, source file and SHA-256, load report).
"""

from segml.loaders.berka import berka_to_bank
from segml.loaders.cdnow import cdnow_to_bank, load_cdnow
from segml.loaders.common import LoadReport, shared_data_dir, transaction_log_to_bank
from segml.loaders.dataset import DATASET_FILE, read_dataset_record
from segml.loaders.online_retail import load_online_retail, online_retail_to_bank

__all__ = [
    "DATASET_FILE",
    "LoadReport",
    "berka_to_bank",
    "cdnow_to_bank",
    "load_cdnow",
    "load_online_retail",
    "online_retail_to_bank",
    "read_dataset_record",
    "shared_data_dir",
    "transaction_log_to_bank",
]
