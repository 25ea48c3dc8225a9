"""The resemblyzer speaker encoder (d-vectors, 256-d, 16 kHz) and its input, shared by the diarizer
(:mod:`callemo.prep.diarize`) and the ``dvector`` feature family (:mod:`callemo.features.dvector`).

The weights ship inside the ``resemblyzer`` package (no download). :func:`get_encoder` loads the
encoder once per process (``None`` when resemblyzer is not installed); :func:`mel_frames` computes its
input, the power mel spectrogram (40 bands, 25 ms / 10 ms) of a 16 kHz signal.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["EMB_SR", "get_encoder", "mel_frames", "normalise_rms"]

EMB_SR = 16000


@functools.cache
def get_encoder():
    """resemblyzer's VoiceEncoder on CPU (weights ship in the package), loaded once per process."""
    try:
        from resemblyzer import VoiceEncoder
    except ImportError:
        return None
    enc = VoiceEncoder("cpu", verbose=False)
    enc.eval()
    return enc


@functools.lru_cache(maxsize=4)
def _mel_basis(n_fft: int = 400, n_mels: int = 40):
    import librosa

    return librosa.filters.mel(sr=EMB_SR, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


def mel_frames(x16: np.ndarray) -> np.ndarray:
    """resemblyzer's input: power mel spectrogram (40 bands, 25 ms / 10 ms), ``(frames, 40)``."""
    import torch

    n_fft, hop = 400, 160
    t = torch.from_numpy(np.ascontiguousarray(x16, np.float32))
    spec = torch.stft(t, n_fft, hop, window=torch.hann_window(n_fft), center=True, pad_mode="constant",
                      return_complex=True)
    power = (spec.real**2 + spec.imag**2).numpy()
    return (_mel_basis(n_fft) @ power).T.astype(np.float32)


def normalise_rms(x: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
    """``x`` scaled to an RMS of ``target_dbfs`` (resemblyzer's own preprocessing level)."""
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9)
    return x * (10 ** (target_dbfs / 20) / rms)
