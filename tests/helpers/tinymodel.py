"""A real, tiny emotion model for the analysis tests: nearest centroid on (level, pitch).

Registered under the model type ``test_centroid``; saves/loads like any model directory. It
learns from generated voices: calm low voices -> ``neutral``, loud high voices -> ``angry``,
quiet low voices -> ``sad``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from callemo.models.base import EmotionModel, register_model
from helpers.voices import synth_voice


def features(x: np.ndarray, sr: int) -> np.ndarray:
    """log RMS level and an autocorrelation F0 estimate (in octaves above 50 Hz)."""
    x = np.asarray(x, dtype=np.float64)
    rms = np.sqrt(np.mean(x**2) + 1e-10)
    seg = x[: min(len(x), sr)]  # first second is enough for pitch
    seg = seg - seg.mean()
    ac = np.correlate(seg, seg, mode="full")[len(seg) - 1:]
    lo, hi = int(sr / 400), int(sr / 60)
    if len(ac) > hi and ac[0] > 0:
        lag = lo + int(np.argmax(ac[lo:hi]))
        f0 = sr / lag
    else:
        f0 = 100.0
    return np.array([np.log10(rms), np.log2(f0 / 50.0)])


@register_model("test_centroid")
class CentroidModel(EmotionModel):
    sample_rate = 8000
    min_duration = 1.0

    def __init__(self, config=None):
        super().__init__(config)
        self.labels = []
        self.centroids = None
        self.calls: list[dict] = []  # what predict_proba saw (for assertions)

    def fit(self, signals, y, speakers=None, **kw):
        X = np.array([features(s, self.sample_rate) for s in signals])
        self.labels = sorted(set(y))
        self.centroids = np.array([X[np.array(y) == lab].mean(axis=0) for lab in self.labels])
        return self

    def predict_proba(self, signals, speakers=None):
        self.calls.append({"n": len(signals), "speakers": list(speakers) if speakers is not None else None,
                           "lengths": [len(s) for s in signals]})
        X = np.array([features(s, self.sample_rate) for s in signals]).reshape(len(signals), 2)
        d = ((X[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        z = np.exp(-(d - d.min(axis=1, keepdims=True)) / 0.05)
        return z / z.sum(axis=1, keepdims=True)

    def _save(self, directory):
        (Path(directory) / "centroids.json").write_text(json.dumps(self.centroids.tolist()))
        return {"feature": "level+pitch"}

    @classmethod
    def _load(cls, directory, card):
        m = cls(card.get("config"))
        m.centroids = np.array(json.loads((Path(directory) / "centroids.json").read_text()))
        return m


@register_model("test_centroid_dims")
class DimsCentroidModel(CentroidModel):
    """The same, plus a dimensional head: valence falls and arousal rises with level."""

    def predict_dimensions(self, signals, speakers=None):
        X = np.array([features(s, self.sample_rate) for s in signals]).reshape(len(signals), 2)
        level = np.clip((X[:, 0] + 2.5) / 2.0, 0, 1)  # log10 rms -2.5 (quiet) .. -0.5 (loud)
        return np.stack([0.5 - level, 2 * level - 1], axis=1)


def voice(duration, sr=8000, kind="neutral", seed=0):
    """:func:`helpers.voices.synth_voice` as a neutral, angry (high, loud, lively) or sad (low,
    quiet, flat) voice."""
    if kind == "angry":
        return synth_voice(duration, sr, f0=260.0, seed=seed, level=0.7, vibrato=0.12)
    if kind == "sad":
        return synth_voice(duration, sr, f0=110.0, seed=seed, level=0.06, vibrato=0.02)
    return synth_voice(duration, sr, f0=120.0, seed=seed, level=0.25, vibrato=0.04)


def train(kind: type[CentroidModel] = CentroidModel) -> CentroidModel:
    sigs, y = [], []
    for k, lab in enumerate(["neutral", "angry", "sad"]):
        for s in range(3):
            sigs.append(voice(2.0, kind=lab, seed=10 * k + s))
            y.append(lab)
    return kind().fit(sigs, y)


def saved_model(directory, kind: type[CentroidModel] = CentroidModel) -> Path:
    m = train(kind)
    m.save(directory)
    return Path(directory)


# -- a simple call preparation for batch tests (energy VAD per channel, no diarization) --------
def simple_prepare(path, sr=None, *, channels=None, speakers=2, first_speaker="agent", max_silence=3.0,
                   target_silence=1.0, vad=None, min_len=1.0, file=None):
    """Energy regions per channel (stereo: channel k = ``channels[k]``; mono: alternate turns,
    the first one ``first_speaker``), as a :class:`~callemo.prep.call.PreparedCall`. Enough to
    drive the batch machinery without silero; it takes what ``analyze_file`` passes a ``prepare``."""
    from callemo.io import load_audio
    from callemo.prep.call import PreparedCall
    from callemo.segments import empty_table, to_table

    x, sr = load_audio(path, mono=False)
    chans = [x] if x.ndim == 1 else list(x)
    hop = int(0.1 * sr)
    rows = []
    for c, sig in enumerate(chans):
        n = len(sig) // hop
        e = np.sqrt((sig[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
        on = e > 0.01
        k = 0
        while k < n:
            if on[k]:
                j = k
                while j < n and on[j]:
                    j += 1
                rows.append((k * hop / sr, j * hop / sr, c))
                k = j
            else:
                k += 1
    rows.sort()
    recs = []
    names = list(channels) if channels and channels != "mono" else ["agent", "client"]
    other = {"agent": "client", "client": "agent"}
    name = file or str(path)
    for i, (s, e, c) in enumerate(rows):
        if len(chans) > 1:
            role = names[c] if c < len(names) else "unknown"
            recs.append(dict(file=name, start=s, end=e, speaker=role, role=role, channel=c, overlap=False))
        else:
            role = first_speaker if i % 2 == 0 else other[first_speaker]
            recs.append(dict(file=name, start=s, end=e, speaker=f"S{i % 2}", role=role, channel=np.nan,
                             overlap=False))
    table = to_table(recs) if recs else empty_table(["speaker", "role", "channel", "overlap"])
    return PreparedCall(file=name, segments=table, turns=table, audio=x, sample_rate=sr, duration=x.shape[-1] / sr,
                        source_sample_rate=sr, stereo=len(chans) > 1, channel_names=names[: len(chans)],
                        speech=[(s, e) for s, e, _ in rows])


def crashing_prepare(path, *args, **kw):
    """``simple_prepare``, except that a file named ``crash*`` kills the worker process outright
    (as the kernel's out-of-memory killer would)."""
    import os
    import signal

    if Path(path).name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    return simple_prepare(path, *args, **kw)
