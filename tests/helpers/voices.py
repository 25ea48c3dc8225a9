"""The one synthetic-voice generator of the tests, and speech built from it.

:func:`synth_voice` makes a voiced, speech-like signal: a source (a glottal pulse train, or a sum of
harmonics) at a fundamental that moves (vibrato, a semitone swing, a random-walk jitter), through
formant resonators, amplitude-modulated at a syllable rate so that it has energy dips like speech.
:func:`harmonic_voice` and :func:`speechlike` are that generator with other settings, or built
from it (syllables of a noise consonant and a voiced vowel), for the tests that need them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal as sps

FORMANTS = (700.0, 1200.0, 2600.0)
VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410), (300, 870, 2240),
          (660, 1720, 2410), (490, 1350, 1690)]


def synth_voice(duration: float, sr: int = 16000, f0: float = 140.0, *, seed: int = 0, level: float = 0.3,
                vibrato: float = 0.05, formants: Sequence[float] = FORMANTS, swing: float = 0.0, jitter: float = 0.01,
                source: str = "pulse", rate: float = 4.0, depth: float = 0.45) -> np.ndarray:
    """``duration`` s of a voice at ``sr``, peak ``level``, float32.

    F0: ``f0`` times ``1 + vibrato * sin(2 pi 0.7 t)`` times a swing of ``swing`` semitones at
    0.7 Hz (random phase) times a random walk of relative size ``jitter``. ``source``: ``pulse``
    (a glottal pulse train with a little breath noise) or ``harmonic`` (14 harmonics, each 0.8 of
    the one below). ``formants``: resonance frequencies (Hz; none for a bare source). Envelope:
    ``1 - depth + depth * sin^2(2 pi rate t + random phase)``.
    """
    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    t = np.arange(n) / sr
    f = f0 * (1 + vibrato * np.sin(2 * np.pi * 0.7 * t))
    if swing:
        f = f * 2 ** (swing * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) / 12)
    if jitter:
        f = f * (1 + jitter * rng.standard_normal(n).cumsum() / np.sqrt(n))
    phase = np.cumsum(f) / sr
    if source == "pulse":
        y = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
        y += 0.02 * rng.standard_normal(n)
    elif source == "harmonic":
        y = sum((0.8 ** k) * np.sin(2 * np.pi * k * phase) for k in range(1, 15))
    else:
        raise ValueError(f"source must be pulse or harmonic, not {source!r}")
    for fc in formants:
        if fc < sr / 2 - 100:
            b, a = sps.iirpeak(fc, Q=8, fs=sr)
            y = sps.lfilter(b, a, y) + 0.3 * y
    env = (1 - depth) + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6)) ** 2
    y = y * env
    y = y / (np.max(np.abs(y)) + 1e-9) * level
    return y.astype(np.float32)


def harmonic_voice(dur: float, f0: float, swing: float, seed: int, sr: int = 16000) -> np.ndarray:
    """A bare harmonic voice (no formants, no jitter) whose F0 swings by ``swing`` semitones at
    0.7 Hz, with a 3.5 Hz syllable envelope: F0 variability without vocal-tract colour."""
    return synth_voice(dur, sr, f0, seed=seed, level=0.3, vibrato=0.0, formants=(), swing=swing, jitter=0.0,
                       source="harmonic", rate=3.5, depth=0.7)


def speechlike(duration: float, sr: int = 16000, f0: float = 120.0, tract: float = 1.0, *, seed: int = 0,
               level: float = 0.3) -> np.ndarray:
    """Speech-like audio that silero-vad accepts as speech: syllables (a short noise consonant + a
    :func:`synth_voice` vowel with its own formants) with a falling F0 contour, grouped into words.
    A "voice" is an F0 plus a vocal-tract scale ``tract`` (formants times ``tract``)."""
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
