"""Names a package imports on first use (PEP 562), so that importing it stays light.

Examples
--------
>>> getattr_ = lazy_getattr("segml.example", {"sqrt": "math"})
>>> getattr_("sqrt")(4.0)
2.0
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[name]`` (a module path) on first use of
    ``name``; any other name is an ``AttributeError`` naming ``package``."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
