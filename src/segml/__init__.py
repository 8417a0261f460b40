"""segml: bank customer segmentation and tiering (客户分级), reproducible and explainable."""

import os
from importlib.metadata import PackageNotFoundError, version

# Before anything imports MLflow (its import starts the telemetry client): no usage data leave
# the bank. setdefault: a user's own setting of either variable wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

try:
    __version__ = version("segml")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__", "open_run"]


def __getattr__(name: str) -> object:
    """``segml.open_run``, imported on first use so that ``import segml`` stays light."""
    if name == "open_run":
        from segml.run.open import open_run

        return open_run
    raise AttributeError(f"module 'segml' has no attribute {name!r}")
