"""Telephone-channel simulation: 8 kHz, 300-3400 Hz band, G.711 mu-law, optional noise.

Usable as a function (:func:`telephone`) and as a training augmentation
(:class:`TelephoneAugment`, which draws the SNR at random).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .audio import resample

TELEPHONE_SR = 8000
BAND = (300.0, 3400.0)
MU = 255.0


def mulaw_encode(x: np.ndarray, mu: float = MU) -> np.ndarray:
    """G.711-style mu-law companding to 8-bit codes (0..255)."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.round((y + 1.0) / 2.0 * mu).astype(np.uint8)


def mulaw_decode(codes: np.ndarray, mu: float = MU) -> np.ndarray:
    y = 2.0 * (np.asarray(codes, dtype=np.float64) / mu) - 1.0
    return (np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu).astype(np.float32)


def mulaw(x: np.ndarray) -> np.ndarray:
    """Quantise through 8-bit mu-law and back (the G.711 channel's distortion)."""
    return mulaw_decode(mulaw_encode(x))


_SOS = signal.butter(4, BAND, btype="bandpass", fs=TELEPHONE_SR, output="sos")


def bandpass(x: np.ndarray) -> np.ndarray:
    """The 300-3400 Hz telephone band at 8 kHz."""
    return signal.sosfilt(_SOS, np.asarray(x, dtype=np.float64)).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """White-ish (pink-tilted) noise at ``snr_db`` relative to the signal's active power."""
    rng = rng or np.random.default_rng()
    x = np.asarray(x, dtype=np.float32)
    power = float(np.mean(x**2))
    if power <= 0:
        return x
    white = rng.standard_normal(len(x))
    pink = signal.lfilter([0.049922, -0.095993, 0.050612, -0.004408], [1, -2.494956, 2.017265, -0.522189], white)
    pink /= np.sqrt(np.mean(pink**2)) + 1e-12
    noise = pink * np.sqrt(power / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


def telephone(
    x: np.ndarray,
    sr: int,
    *,
    snr_db: float | None = None,
    codec: bool = True,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, int]:
    """Degrade wideband speech to telephone quality; returns ``(audio, 8000)``.

    Resample to 8 kHz, band-limit to 300-3400 Hz, add noise at ``snr_db`` (if given), and pass
    through G.711 mu-law (if ``codec``). Peak level is kept below clipping.
    """
    y = resample(np.asarray(x, dtype=np.float32), sr, TELEPHONE_SR) if sr != TELEPHONE_SR else np.asarray(x, np.float32)
    y = bandpass(y)
    if snr_db is not None:
        y = add_noise(y, snr_db, rng)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    if codec:
        y = mulaw(y)
    return y.astype(np.float32), TELEPHONE_SR


class TelephoneAugment:
    """Random telephone degradation for training: SNR drawn from ``snr_range`` (or clean)."""

    def __init__(self, snr_range: tuple[float, float] | None = (10.0, 30.0), p_noise: float = 0.7, seed: int | None = None):
        self.snr_range = snr_range
        self.p_noise = p_noise
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
        snr = None
        if self.snr_range is not None and self.rng.random() < self.p_noise:
            snr = float(self.rng.uniform(*self.snr_range))
        return telephone(x, sr, snr_db=snr, rng=self.rng)
