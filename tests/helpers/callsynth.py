"""A tiny two-voice manifest of generated speech-like utterances (no corpus needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from callemo.io import save_audio
from helpers.voices import speechlike

VOICES = {"low": dict(f0=100.0, tract=0.95), "high": dict(f0=190.0, tract=1.15)}


def synth_manifest(folder, n_per_emotion: int = 4, sr: int = 16000) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(1)
    for si, (spk, v) in enumerate(VOICES.items()):
        for ei, (emo, f0_scale, level) in enumerate((("neutral", 1.0, 0.2), ("angry", 1.12, 0.5))):
            for k in range(n_per_emotion):
                d = float(rng.uniform(1.5, 2.6))
                x = speechlike(d, sr=sr, f0=v["f0"] * f0_scale, tract=v["tract"], seed=100 * si + 10 * ei + k,
                               level=level)
                pad = np.zeros(int(0.4 * sr), np.float32)
                p = save_audio(Path(folder) / f"{spk}_{emo}_{k}.wav", np.concatenate([pad, x, pad]), sr)
                rows.append({"path": str(p), "speaker": spk, "emotion": emo, "start": np.nan, "end": np.nan})
    return pd.DataFrame(rows)
