"""Generated training data of the continuous regressor: voices with known valence/arousal traces."""

from __future__ import annotations

import numpy as np

from helpers.voices import synth_voice

SR = 8000


def traced_voices(n: int = 6, dur: float = 8.0, seed: int = 0,
                  sr: int = SR) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Signals whose loudness follows a slow envelope; the 'arousal' trace is that envelope, the
    'valence' trace a function of the pitch; both at 2 Hz."""
    rng = np.random.default_rng(seed)
    sigs, traces = [], []
    for i in range(n):
        f0 = 110 + 60 * (i % 3)
        x = synth_voice(dur, sr=sr, f0=f0, seed=i)
        t = np.arange(len(x)) / sr
        env = 0.15 + 0.85 * (0.5 + 0.5 * np.sin(2 * np.pi * t / rng.uniform(3, 6) + rng.uniform(0, 6)))
        x = (x * env).astype(np.float32)
        tl = np.arange(int(np.ceil(dur / 0.5))) * 0.5
        aro = np.interp(tl, t, env) * 2 - 1
        val = np.full_like(tl, (f0 - 170) / 60)
        sigs.append(x)
        traces.append(np.stack([val, aro], 1).astype(np.float32))
    return sigs, traces
