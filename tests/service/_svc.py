"""Helpers of the service tests: a tiny real model, and calls made from the example recording."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from callemo.models.base import EmotionModel, register_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

EXAMPLE = ROOT / "examples" / "call.wav"
EXAMPLE_TRUTH = ROOT / "examples" / "call_truth.csv"


def level(x: np.ndarray) -> float:
    return float(np.log10(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2) + 1e-10)))


@register_model("test_service_level")
class LevelModel(EmotionModel):
    """Nearest class centroid of the log RMS level (a real, if tiny, model: fit / save / load)."""

    sample_rate = 8000
    min_duration = 0.5

    def fit(self, signals, y, speakers=None, **kw):
        e = np.array([level(s) for s in signals])
        self.labels = sorted(set(y))
        self.centroids = np.array([e[np.array(y) == lab].mean() for lab in self.labels])
        return self

    def predict_proba(self, signals, speakers=None):
        e = np.array([level(s) for s in signals])
        d = np.abs(e[:, None] - self.centroids[None, :])
        z = np.exp(-(d - d.min(axis=1, keepdims=True)) / 0.1)
        return z / z.sum(axis=1, keepdims=True)

    def _save(self, directory):
        (Path(directory) / "centroids.json").write_text(json.dumps(self.centroids.tolist()))
        return {}

    @classmethod
    def _load(cls, directory, card):
        m = cls(card.get("config"))
        m.centroids = np.array(json.loads((Path(directory) / "centroids.json").read_text()))
        return m


def _speech():
    from callemo.io import load_audio

    return load_audio(EXAMPLE)


def turns():
    import pandas as pd

    t = pd.read_csv(EXAMPLE_TRUTH)
    return [(float(r.start), float(r.end), str(r.role)) for r in t.itertuples()]


def train_model(kind: str = "neutral") -> LevelModel:
    """``neutral``: speech at the example's level is neutral, much louder speech angry, quiet sad.
    ``angry``: speech at the example's level is angry (and near-silence neutral)."""
    x, sr = _speech()
    pieces = [x[int(s * sr):int(e * sr)] for s, e, _ in turns()]
    if kind == "angry":
        sigs = pieces + [p * 0.01 for p in pieces]
        y = ["angry"] * len(pieces) + ["neutral"] * len(pieces)
    else:
        sigs = pieces + [np.clip(p * 8, -1, 1) for p in pieces] + [p * 0.05 for p in pieces]
        y = ["neutral"] * len(pieces) + ["angry"] * len(pieces) + ["sad"] * len(pieces)
    return LevelModel().fit(sigs, y)


def saved_model(directory, kind: str = "neutral") -> Path:
    m = train_model(kind)
    m.sample_rate = 8000
    m.save(directory)
    return Path(directory)


def stereo_call(seed: int = 0):
    """The example call with the agent on channel 0 and the client on channel 1: ``(audio, sr)``."""
    x, sr = _speech()
    rng = np.random.default_rng(seed)
    st = (3e-4 * rng.standard_normal((2, len(x)))).astype(np.float32)
    for s, e, role in turns():
        i0, i1 = int(s * sr), int(e * sr)
        st[0 if role == "agent" else 1, i0:i1] = x[i0:i1]
    return st, sr


def stereo_file(path) -> Path:
    from callemo.io import save_audio

    st, sr = stereo_call()
    return Path(save_audio(path, st, sr))


def pcm_bytes(audio: np.ndarray) -> bytes:
    """``(channels, n)`` or ``(n,)`` float audio as interleaved little-endian int16 bytes."""
    a = np.atleast_2d(audio)
    return (np.clip(a.T, -1, 1) * 32767).astype("<i2").tobytes()
