"""Strict JSON for CLV documents: NaN and infinities become null, numpy scalars plain numbers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples, scalars) that ``json.dumps`` writes as strict JSON.

    Non-finite floats become None (JSON has no NaN), numpy scalars and arrays become Python
    numbers and lists, dates and other objects their ``str``.
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return str(obj)
