"""Frame-level log-mel spectrogram with deltas and delta-deltas (for the neural models).

25 ms Hann window, 10 ms hop, ``n_mels`` bands (default 64) up to the Nyquist frequency;
output ``(frames, 3 * n_mels)``: log-mel, delta, delta-delta (librosa's 9-frame regression).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.fft import rfft

from .base import FeatureExtractor, register_extractor
from .prosody import _hann, _mel_fb, frame_signal


@register_extractor("logmel")
class LogMelExtractor(FeatureExtractor):
    kind = "frames"

    def __init__(self, sample_rate: int = 16000, n_mels: int = 64, win_s: float = 0.025, hop_s: float = 0.010,
                 fmin: float = 20.0, fmax: float | None = None, deltas: bool = True):
        super().__init__(sample_rate)
        self.n_mels = int(n_mels)
        self.win_s = float(win_s)
        self.hop_s = float(hop_s)
        self.fmin = float(fmin)
        self.fmax = float(fmax) if fmax else None
        self.deltas = bool(deltas)

    def params(self) -> dict[str, Any]:
        p = super().params()
        p.update(n_mels=self.n_mels, win_s=self.win_s, hop_s=self.hop_s, fmin=self.fmin, fmax=self.fmax,
                 deltas=self.deltas)
        return p

    @property
    def feature_names(self) -> list[str]:
        names = [f"logmel{k}" for k in range(self.n_mels)]
        if self.deltas:
            names += [f"d_logmel{k}" for k in range(self.n_mels)] + [f"dd_logmel{k}" for k in range(self.n_mels)]
        return names

    def _process(self, x: np.ndarray) -> np.ndarray:
        import librosa

        sr = self.sample_rate
        win = int(round(self.win_s * sr))
        hop = int(round(self.hop_s * sr))
        nfft = 1
        while nfft < win:
            nfft *= 2
        fr = frame_signal(np.asarray(x, np.float32), win, hop)
        P = np.abs(rfft(fr * _hann(win), nfft, axis=1)) ** 2
        fb = _mel_fb(sr, nfft, self.n_mels, self.fmin, self.fmax or sr / 2)
        L = np.log(P @ fb.T + 1e-6).astype(np.float32)  # (T, n_mels)
        if not self.deltas:
            return L
        T = L.shape[0]
        width = min(9, T if T % 2 == 1 else T - 1)
        if width >= 3:
            d1 = librosa.feature.delta(L, width=width, axis=0, mode="interp" if width <= T else "nearest")
            d2 = librosa.feature.delta(L, width=width, order=2, axis=0, mode="interp" if width <= T else "nearest")
        else:
            d1 = np.zeros_like(L)
            d2 = np.zeros_like(L)
        return np.concatenate([L, d1, d2], axis=1).astype(np.float32)
