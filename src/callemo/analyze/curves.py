"""Per-role valence/arousal curves at 2 Hz (the 500 ms rate of paper 000's annotations).

A curve is sampled on a fixed grid ``t = 0, 0.5, 1.0, ... <= duration`` in the original
recording's time. At each grid time the raw value is the valence (arousal) of the role's segment
that covers it. The raw curve is then smoothed with a Gaussian kernel (``sigma`` seconds) by
*normalised convolution*: only judged points take part, so a silence never drags the curve
towards 0. Where the role is silent (no segment of that role covers the time) or only has
segments the model could not judge (emotion ``unknown``), the curve is NaN (``null`` in JSON),
so plots show gaps, not invented values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: samples per second of the curves (500 ms, paper 000)
CURVE_RATE = 2.0
#: default Gaussian smoothing (standard deviation, seconds)
DEFAULT_SMOOTH = 1.0


def time_grid(duration: float, rate: float = CURVE_RATE) -> np.ndarray:
    """``0, 1/rate, 2/rate, ...`` up to and including ``duration``."""
    if not np.isfinite(duration) or duration <= 0:
        return np.zeros(0)
    n = int(np.floor(duration * rate + 1e-9)) + 1
    return np.arange(n) / rate


def gaussian_smooth(values: np.ndarray, sigma_samples: float) -> np.ndarray:
    """NaN-aware Gaussian smoothing (normalised convolution); NaN input points stay NaN."""
    v = np.asarray(values, dtype=float)
    valid = np.isfinite(v)
    if sigma_samples <= 0 or not valid.any():
        return v.copy()
    radius = int(np.ceil(3 * sigma_samples))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_samples) ** 2)
    n = len(v)
    num = np.convolve(np.where(valid, v, 0.0), k, mode="full")[radius:radius + n]
    den = np.convolve(valid.astype(float), k, mode="full")[radius:radius + n]
    out = np.full_like(v, np.nan)
    ok = valid & (den > 1e-12)
    out[ok] = num[ok] / den[ok]
    return out


def _raw_curve(grid: np.ndarray, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Value of the segment covering each grid time (NaN where none). Later segments win ties."""
    out = np.full(len(grid), np.nan)
    if len(grid) == 0:
        return out
    for s, e, v in zip(starts, ends, values):
        if not np.isfinite(v):
            continue
        i0 = int(np.searchsorted(grid, s, side="left"))
        i1 = int(np.searchsorted(grid, e, side="right"))
        out[i0:i1] = v
    return out


def role_curves(
    segments: pd.DataFrame,
    duration: float,
    *,
    rate: float = CURVE_RATE,
    smooth: float = DEFAULT_SMOOTH,
    roles: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Per-role curves: ``{role: DataFrame(time, valence, arousal)}`` on the 2 Hz grid.

    ``segments`` is a segment table (index ``file, start, end``) with ``role``, ``valence`` and
    ``arousal`` columns. ``smooth`` is the Gaussian sigma in seconds (0 = no smoothing).
    Roles default to those present in the table (``agent`` and ``client`` first).
    """
    grid = time_grid(duration, rate)
    if roles is None:
        present = [] if segments is None or len(segments) == 0 else list(pd.unique(segments["role"].astype(str)))
        roles = ([r for r in ("agent", "client") if r in present]
                 + sorted(r for r in present if r not in ("agent", "client")))
    curves: dict[str, pd.DataFrame] = {}
    flat = segments.reset_index() if segments is not None and len(segments) else None
    for role in roles:
        val = np.full(len(grid), np.nan)
        aro = np.full(len(grid), np.nan)
        if flat is not None:
            sub = flat[flat["role"].astype(str) == role]
            if len(sub):
                s = sub["start"].to_numpy(float)
                e = sub["end"].to_numpy(float)
                val = gaussian_smooth(_raw_curve(grid, s, e, sub["valence"].to_numpy(float)), smooth * rate)
                aro = gaussian_smooth(_raw_curve(grid, s, e, sub["arousal"].to_numpy(float)), smooth * rate)
        curves[role] = pd.DataFrame({"time": grid, "valence": val, "arousal": aro})
    return curves
