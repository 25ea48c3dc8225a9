"""Small helpers shared across callemo: plain (JSON/YAML-safe) objects, number formatting."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def format_clock(seconds: Any, decimals: int = 0, missing: str = "") -> str:
    """A time as ``m:ss`` (under an hour) or ``h:mm:ss``, with ``decimals`` digits of the second
    (truncated, so that a time never shows past its second: 59.96 s with one decimal is ``0:59.9``;
    with ``decimals=0`` it is rounded to the nearest second). Negative times count as 0;
    ``missing`` for None, NaN and infinities."""
    if seconds is None:
        return missing
    x = float(seconds)
    if not math.isfinite(x):
        return missing
    x = max(0.0, x)
    whole = round(x) if decimals <= 0 else int(x)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    text = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    if decimals > 0:
        frac = int((x - whole) * 10**decimals + 1e-9)
        text += f".{frac:0{decimals}d}"
    return text


__all__ = ["format_clock", "format_number", "plain"]


def release_free_memory() -> None:
    """Give the heap's free pages back to the operating system (glibc ``malloc_trim``; a no-op
    elsewhere). A long call allocates and frees large temporaries stage after stage (VAD blocks,
    d-vector windows); without this, glibc keeps the freed heap and the next stage's allocations
    add to it: on a one-hour call the preparation peaked about 75 MB higher."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` from the running process's own symbols (looked up once), or ``None``."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)  # absent on musl and macOS
    except OSError:
        return None
