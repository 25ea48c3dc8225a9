"""Small helpers shared across callemo: plain (JSON/YAML-safe) objects, number formatting."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def plain(obj: Any, *, nan_to_none: bool = True) -> Any:
    """Recursively make ``obj`` JSON/YAML-safe.

    Mappings become dicts with ``str`` keys, lists/tuples/arrays become lists, numpy scalars Python
    ones and paths strings; with ``nan_to_none`` NaN and infinities become ``None``.
    """
    if isinstance(obj, Mapping):
        return {str(k): plain(v, nan_to_none=nan_to_none) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, nan_to_none=nan_to_none) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist(), nan_to_none=nan_to_none)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if nan_to_none and isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def format_number(x: Any, digits: int = 3, missing: str = "-") -> str:
    """``x`` with ``digits`` decimals; ``missing`` for None, NaN and infinities; ``str(x)`` for
    what is no number."""
    if x is None:
        return missing
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return missing if not math.isfinite(f) else f"{f:.{digits}f}"


__all__ = ["format_number", "plain"]
