"""The churn model's split design: its horizon and snapshot dates, fitted to the history.

See :mod:`segml.churn.fit` for the design (*t* = as-of date, *h* = horizon): train at
*t − 2h*, validate at *t − h*, test at *t*; a customer split of *t − h* when *t − 2h* has
too little history before it; and, on a short history, a shorter horizon down to
:data:`MIN_HORIZON_MONTHS` (docs/churn.md, "Months of history").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from segml.dates import add_months, months_before
from segml.features.labels import label_window

__all__ = ["MIN_HORIZON_MONTHS", "ChurnHorizonWarning", "ChurnSplit", "plan_split", "snapshot_date"]


class ChurnHorizonWarning(UserWarning):
    """The churn model is trained on a shorter label window than configured (short history)."""


#: The shortest label window a churn model is trained on when the configured one does not fit
#: the history (docs/churn.md, "Months of history").
MIN_HORIZON_MONTHS = 3


#: The month end ``months_back`` months before ``as_of`` (:func:`segml.dates.months_before`).
snapshot_date = months_before


@dataclass(frozen=True)
class ChurnSplit:
    """Dates and mode of the train / validation / test design (see the module docstring)."""

    mode: str
    train_as_of: str
    validation_as_of: str
    test_as_of: str
    horizon_months: int
    history_start: str
    note: str
    configured_horizon_months: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return asdict(self)


def plan_split(
    as_of: dt.date,
    horizon_months: int,
    history_start: dt.date,
    min_history_months: int = 12,
    min_horizon_months: int | None = None,
) -> ChurnSplit:
    """Choose the horizon and the snapshot dates for ``as_of``.

    With ``min_horizon_months``, a configured horizon the history cannot hold gives way to the
    longest one down to that minimum that it can (a shorter label window moves the validation
    snapshot *t − h* later, so that it has ``min_history_months`` of history before it); the
    split's ``configured_horizon_months`` and ``note`` say so.

    Raises
    ------
    ValueError
        When even the validation snapshot *t − h* of the shortest allowed horizon has less than
        ``min_history_months`` of history.
    """
    earliest = add_months(history_start, min_history_months) - dt.timedelta(days=1)
    shortest = min(min_horizon_months or horizon_months, horizon_months)
    for h in range(horizon_months, shortest - 1, -1):
        if snapshot_date(as_of, h) >= earliest:
            if h == horizon_months:
                break
            split = _split(as_of, h, history_start, min_history_months)
            why = (
                f"horizon {h} months, not the configured {horizon_months}: the history from "
                f"{history_start} holds no longer label window after a snapshot with "
                f"{min_history_months} months of history before it (minimum "
                f"{min_horizon_months} months); "
            )
            return ChurnSplit(**{**split.to_dict(), "note": why + split.note,
                                 "configured_horizon_months": horizon_months})  # fmt: skip
    try:
        return _split(as_of, horizon_months, history_start, min_history_months)
    except ValueError as exc:
        if shortest == horizon_months:
            raise
        months = min_history_months + shortest
        raise ValueError(
            f"{exc}; no horizon down to {shortest} months fits either: a churn model needs at "
            f"least {months} months of history ({min_history_months} before a snapshot, "
            f"{shortest} after it)"
        ) from None


def _split(
    as_of: dt.date, horizon_months: int, history_start: dt.date, min_history_months: int
) -> ChurnSplit:
    t_val, t_train = snapshot_date(as_of, horizon_months), snapshot_date(as_of, 2 * horizon_months)
    for t in (t_val, t_train):
        assert label_window(t, horizon_months)[1] <= as_of, "a label window passes the as-of date"
    earliest = add_months(history_start, min_history_months) - dt.timedelta(days=1)
    common = {
        "validation_as_of": str(t_val),
        "test_as_of": str(as_of),
        "horizon_months": horizon_months,
        "history_start": str(history_start),
        "configured_horizon_months": horizon_months,
    }
    if t_train >= earliest:
        note = (
            f"out of time: train on {t_train}, validate on {t_val}, test on the window after "
            f"{as_of} when the data reach past it; every training label window ends by {as_of}"
        )
        return ChurnSplit("out_of_time", str(t_train), note=note, **common)
    if t_val >= earliest:
        note = (
            f"history from {history_start} is too short for a training snapshot at {t_train} "
            f"(needs {min_history_months} months before it): the snapshot at {t_val} is split "
            "by customer, 80% training and 20% validation; test on the window after "
            f"{as_of} when the data reach past it"
        )
        return ChurnSplit("customer_split", str(t_val), note=note, **common)
    raise ValueError(
        f"the history from {history_start} is too short to train a {horizon_months}-month churn "
        f"model for {as_of}: the latest training snapshot, {t_val}, needs {min_history_months} "
        "months of history before it (churn.min_history_months) and a label window that ends by "
        "the as-of date"
    )
