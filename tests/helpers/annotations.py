"""Helpers for the annotation and call-selection tests: generated traces, DARMA files and speech-like calls."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from helpers.voices import harmonic_voice

SR = 16000


def smooth(rng, n: int, scale: float = 0.6, width: int = 8) -> np.ndarray:
    x = rng.standard_normal(n + 4 * width)
    k = np.hanning(2 * width + 1)
    y = np.convolve(x, k / k.sum(), mode="same")[2 * width:2 * width + n]
    return np.clip(scale * y / (np.abs(y).max() + 1e-9), -1, 1)


def write_darma(path: Path, t, x, y, *, header: str | None = "Second,X,Y", preamble: list[str] | None = None,
                scale: float = 1000.0) -> Path:
    """A DARMA-style export: optional preamble lines, optional header, time,x,y rows."""
    with open(path, "w", newline="") as f:
        for line in preamble or []:
            f.write(line + "\n")
        if header:
            f.write(header + "\n")
        w = csv.writer(f)
        for ti, xi, yi in zip(t, x, y):
            w.writerow([f"{ti:.2f}", f"{xi * scale:.0f}" if scale != 1 else f"{xi:.4f}",
                        f"{yi * scale:.0f}" if scale != 1 else f"{yi:.4f}"])
    return path


def annotated_pair(rng, n: int = 120, agree: float = 0.9):
    """Two annotators' (valence, arousal) traces; ``agree`` = share of the common signal."""
    v, a = smooth(rng, n), smooth(rng, n, 0.5)
    out = []
    for k in range(2):
        w = 1.0 if k == 0 else agree
        out.append((w * v + (1 - w) * smooth(rng, n) + 0.02 * rng.standard_normal(n),
                    w * a + (1 - w) * smooth(rng, n, 0.5) + 0.02 * rng.standard_normal(n)))
    return [(np.clip(x, -1, 1), np.clip(y, -1, 1)) for x, y in out]


def synthetic_call(kind: str, seed: int, sr: int = SR, turns: int = 3, turn_s: float = 1.5,
                   long_pause: float = 5.0) -> np.ndarray:
    """Turns separated by pauses (the second one longer than 3 s). ``emotional``: each turn at its
    own F0 (110-260 Hz) with a wide swing; ``neutral``: a steady F0 near 140 Hz."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(turns):
        if kind == "emotional":
            f0, swing = rng.uniform(110, 260), rng.uniform(3, 5)
        else:
            f0, swing = 140 * rng.uniform(0.97, 1.03), 0.5
        parts.append(harmonic_voice(turn_s, f0, swing, seed * 10 + k, sr))
        pause = long_pause if k == 1 else 0.4
        parts.append((1e-4 * rng.standard_normal(int(sr * pause))).astype(np.float32))
    return np.concatenate(parts)


def make_calls(d: Path, n: int = 3) -> Path:
    """``n`` neutral and ``n`` emotional synthetic calls (wav, 16 kHz) in folder ``d``."""
    import soundfile as sf

    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(d / f"neutral{i}.wav", synthetic_call("neutral", i), SR)
        sf.write(d / f"emotional{i}.wav", synthetic_call("emotional", 100 + i), SR)
    return d
