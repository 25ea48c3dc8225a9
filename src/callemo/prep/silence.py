"""Silence compression (paper 000): silences longer than ``max_silence`` become ``target`` seconds.

Used for processing only. :class:`TimeMap` maps times between the compressed ("processed") signal
and the original recording (piecewise linear, vectorised), so every output can be reported in
the original recording's time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class TimeMap:
    """Piecewise-linear map between processed and original time.

    ``processed`` and ``original`` are matching breakpoints (increasing). Inside a kept stretch
    both advance together; a compressed silence of original length L maps onto ``target``
    seconds, and times inside it are scaled linearly (so the map stays invertible).
    """

    processed: np.ndarray = field(default_factory=lambda: np.array([0.0]))
    original: np.ndarray = field(default_factory=lambda: np.array([0.0]))

    @classmethod
    def identity(cls, duration: float) -> "TimeMap":
        return cls(np.array([0.0, float(duration)]), np.array([0.0, float(duration)]))

    @property
    def duration_processed(self) -> float:
        return float(self.processed[-1])

    @property
    def duration_original(self) -> float:
        return float(self.original[-1])

    @property
    def removed(self) -> float:
        """Seconds of silence removed."""
        return self.duration_original - self.duration_processed

    def to_original(self, t):
        """Original time(s) of processed time(s) ``t`` (scalar or array)."""
        return _interp(t, self.processed, self.original)

    def to_processed(self, t):
        """Processed time(s) of original time(s) ``t`` (scalar or array)."""
        return _interp(t, self.original, self.processed)

    def segments_to_original(self, starts, ends) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.to_original(starts), float), np.asarray(self.to_original(ends), float)

    def to_dict(self) -> dict:
        return {"processed": self.processed.tolist(), "original": self.original.tolist()}


def _interp(t, xp: np.ndarray, fp: np.ndarray):
    arr = np.asarray(t, dtype=float)
    out = np.interp(arr, xp, fp)
    # beyond the last breakpoint keep a slope of 1 (e.g. a few samples of rounding)
    out = np.where(arr > xp[-1], fp[-1] + (arr - xp[-1]), out)
    out = np.where(arr < xp[0], fp[0] + (arr - xp[0]), out)
    return float(out) if np.ndim(t) == 0 else out


def silences(regions: Sequence[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The gaps between speech regions (including before the first and after the last)."""
    out, prev = [], 0.0
    for s, e in sorted(regions):
        if s > prev:
            out.append((prev, min(s, duration)))
        prev = max(prev, e)
    if duration > prev:
        out.append((prev, duration))
    return out


def compress_map(
    regions: Sequence[tuple[float, float]],
    duration: float,
    sr: int,
    max_silence: float = 3.0,
    target: float = 1.0,
) -> tuple[list[tuple[int, int]], TimeMap]:
    """The sample ranges kept by :func:`compress` and its :class:`TimeMap`, without touching audio
    (so a long call's map costs nothing)."""
    if target > max_silence:
        raise ValueError(f"target silence {target} s is longer than max_silence {max_silence} s")
    n = int(round(duration * sr))
    keep: list[tuple[int, int]] = []
    pos = 0
    for s, e in silences(regions, duration):
        if e - s > max_silence:
            cut0 = int(round((s + target / 2) * sr))
            cut1 = int(round((e - target / 2) * sr))
            if s <= 0:  # leading silence: keep only the last target seconds
                cut0, cut1 = 0, int(round((e - target) * sr))
            elif e >= duration:  # trailing silence: keep the first target seconds
                cut0, cut1 = int(round((s + target) * sr)), n
            if cut1 > cut0:
                keep.append((pos, cut0))
                pos = cut1
    keep.append((pos, n))
    keep = [(a, b) for a, b in keep if b > a]
    if not keep or (len(keep) == 1 and keep[0] == (0, n)):
        return [(0, n)], TimeMap.identity(duration)
    bp_p, bp_o, p = [], [], 0
    for a, b in keep:
        bp_p += [p / sr, (p + b - a) / sr]
        bp_o += [a / sr, b / sr]
        p += b - a
    P, O = np.array(bp_p), np.array(bp_o)
    if O[0] > 0:  # leading cut: earlier originals all map onto processed 0
        P, O = np.concatenate([[0.0], P]), np.concatenate([[0.0], O])
    if O[-1] < duration:
        P, O = np.concatenate([P, [P[-1]]]), np.concatenate([O, [duration]])
    return keep, _monotone(P, O)


def compress(
    x: np.ndarray,
    sr: int,
    regions: Sequence[tuple[float, float]],
    max_silence: float = 3.0,
    target: float = 1.0,
) -> tuple[np.ndarray, TimeMap]:
    """Shorten every silence longer than ``max_silence`` seconds to ``target`` seconds.

    ``x`` is 1-D or ``(channels, samples)``; ``regions`` are speech ``(start, end)`` seconds. The
    middle of a long silence is cut (``target/2`` kept on each side, so speech onsets and
    offsets keep their natural context; a leading / trailing silence keeps ``target`` next to
    the speech). Returns the compressed audio and its :class:`TimeMap`.
    """
    x = np.asarray(x)
    n = x.shape[-1]
    keep, tm = compress_map(regions, n / sr, sr, max_silence, target)
    if len(keep) == 1 and keep[0] == (0, n):
        return x, tm
    return np.concatenate([x[..., a:b] for a, b in keep], axis=-1), tm


def _monotone(P: np.ndarray, O: np.ndarray) -> TimeMap:
    """Strictly increasing breakpoints: where several original times share one processed instant
    (a removed stretch), the earlier breakpoint is moved 1 microsecond back, so a processed
    instant at a join maps to the *next* kept sample (the one the compressed audio holds there)."""
    eps = 1e-6
    P = P.astype(float).copy()
    O = O.astype(float).copy()
    keep = np.concatenate([[True], np.diff(O) > 0])  # adjacent kept pieces: drop the join
    P, O = P[keep], O[keep]
    for i in range(len(P) - 1, 0, -1):
        if P[i - 1] >= P[i]:
            P[i - 1] = P[i] - eps
    return TimeMap(P, O)
