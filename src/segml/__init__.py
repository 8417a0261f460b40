"""segml: bank customer segmentation and tiering (客户分级), reproducible and explainable."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segml")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
