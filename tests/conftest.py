"""Shared fixtures: the shared corpora (skipped with a reason when absent) and generated audio."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))


def corpus_dir(name: str) -> Path:
    """The folder of a shared corpus, or skip the test saying why."""
    d = SHARED_DATA / name
    if not d.is_dir():
        pytest.skip(f"corpus {name!r} not found at {d} (the shared corpora sit beside the project in ../shared/data)")
    return d


@pytest.fixture
def ravdess_dir() -> Path:
    return corpus_dir("ravdess")


@pytest.fixture
def savee_dir() -> Path:
    return corpus_dir("savee")


@pytest.fixture
def nemo_dir() -> Path:
    return corpus_dir("nemo")


def synth_voice(duration: float, sr: int = 16000, f0: float = 140.0, *, seed: int = 0, level: float = 0.3,
                vibrato: float = 0.05, formants=(700.0, 1200.0, 2600.0)) -> np.ndarray:
    """A voiced, speech-like signal: a glottal pulse train with jittered F0 through formant resonators,
    amplitude-modulated at a syllable rate (4 Hz) so that it has energy dips like speech."""
    from scipy import signal as sps

    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    t = np.arange(n) / sr
    f = f0 * (1 + vibrato * np.sin(2 * np.pi * 0.7 * t)) * (1 + 0.01 * rng.standard_normal(n).cumsum() / np.sqrt(n))
    phase = np.cumsum(f) / sr
    src = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
    src += 0.02 * rng.standard_normal(n)
    y = src
    for fc in formants:
        if fc < sr / 2 - 100:
            b, a = sps.iirpeak(fc, Q=8, fs=sr)
            y = sps.lfilter(b, a, y) + 0.3 * y
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)) ** 2
    y = y * env
    y = y / (np.max(np.abs(y)) + 1e-9) * level
    return y.astype(np.float32)


@pytest.fixture
def voice():
    return synth_voice
