"""Speech-like generated audio that silero-vad accepts as speech: syllables (a short noise
consonant + a voiced vowel with its own formants, from tests/conftest.py::synth_voice) with a
falling F0 contour, grouped into words. A "voice" is an F0 plus a vocal-tract scale."""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from conftest import synth_voice

VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410), (300, 870, 2240),
          (660, 1720, 2410), (490, 1350, 1690)]


def speechlike(duration: float, sr: int = 16000, f0: float = 120.0, tract: float = 1.0, *, seed: int = 0,
               level: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    n_total = int(duration * sr)
    n = 0
    k = 0
    while n < n_total:
        cons = rng.standard_normal(int(rng.uniform(0.03, 0.08) * sr))
        b, a = sps.butter(2, [1500 / (sr / 2), min(0.95, 3800 / (sr / 2))], btype="band")
        cons = sps.lfilter(b, a, cons) * 0.15
        vf = tuple(f * tract for f in VOWELS[int(rng.integers(len(VOWELS)))])
        prog = n / max(1, n_total)
        vow = synth_voice(float(rng.uniform(0.12, 0.25)), sr=sr, f0=f0 * (1.1 - 0.2 * prog), formants=vf,
                          seed=seed * 1000 + k, level=1.0)
        vow = vow * np.hanning(len(vow)) ** 0.3
        syl = np.concatenate([cons, vow])
        out.append(syl)
        n += len(syl)
        if rng.random() < 0.25:  # word boundary
            gap = np.zeros(int(rng.uniform(0.03, 0.09) * sr))
            out.append(gap)
            n += len(gap)
        k += 1
    y = np.concatenate(out)[:n_total]
    return (y / (np.max(np.abs(y)) + 1e-9) * level).astype(np.float32)
