"""The labels step: :func:`segml.features.labels.build_labels` as the run's config says."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from segml.data import BankData
from segml.features.snapshots import Snapshots
from segml.run.config import RunConfig


def labels_for_run(bank: BankData | Snapshots, as_of: dt.date | str, cfg: RunConfig) -> pa.Table:
    """:func:`build_labels` as a run config says: its horizon, churn definition, inactivity,
    run-off share and feature configuration (economics included); through ``bank`` when it is
    the run's :class:`~segml.features.snapshots.Snapshots`.

    Raises
    ------
    ValueError
        When the data end before the label window does (as :func:`build_labels`).
    """
    lab = cfg.labels
    snaps = Snapshots.of(bank, cfg.features.feature_config())
    return snaps.labels(as_of, lab.horizon_months, lab.churn_definition, lab.inactivity_days,
                        lab.runoff_share)  # fmt: skip
