"""Silence compression (paper 000): silences longer than ``max_silence`` become ``target`` seconds.

Used for processing only. :class:`TimeMap` maps times between the compressed ("processed") signal
and the original recording (piecewise linear, vectorised), so every output can be reported in
the original recording's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
    def identity(cls, duration: float) -> TimeMap:
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
    n = round(duration * sr)
    keep: list[tuple[int, int]] = []
    pos = 0
    for s, e in silences(regions, duration):
        if e - s > max_silence:
            cut0 = round((s + target / 2) * sr)
            cut1 = round((e - target / 2) * sr)
            if s <= 0:  # leading silence: keep only the last target seconds
                cut0, cut1 = 0, round((e - target) * sr)
            elif e >= duration:  # trailing silence: keep the first target seconds
                cut0, cut1 = round((s + target) * sr), n
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
    proc, orig = np.array(bp_p), np.array(bp_o)
    if orig[0] > 0:  # leading cut: earlier originals all map onto processed 0
        proc, orig = np.concatenate([[0.0], proc]), np.concatenate([[0.0], orig])
    if orig[-1] < duration:
        proc, orig = np.concatenate([proc, [proc[-1]]]), np.concatenate([orig, [duration]])
    return keep, _monotone(proc, orig)


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


def _monotone(proc: np.ndarray, orig: np.ndarray) -> TimeMap:
    """Strictly increasing breakpoints: where several original times share one processed instant
    (a removed stretch), the earlier breakpoint is moved 1 microsecond back, so a processed
    instant at a join maps to the *next* kept sample (the one the compressed audio holds there)."""
    eps = 1e-6
    proc = proc.astype(float).copy()
    orig = orig.astype(float).copy()
    keep = np.concatenate([[True], np.diff(orig) > 0])  # adjacent kept pieces: drop the join
    proc, orig = proc[keep], orig[keep]
    for i in range(len(proc) - 1, 0, -1):
        if proc[i - 1] >= proc[i]:
            proc[i - 1] = proc[i] - eps
    return TimeMap(proc, orig)
