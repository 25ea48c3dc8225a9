"""Telephone-channel simulation: 8 kHz, 300-3400 Hz band, G.711 mu-law, optional noise, and the
16 kbps MP3 that call archives are often stored as (:func:`mp3_roundtrip`, :func:`write_mp3`,
:func:`mp3_encode`, :func:`mp3_decode`).

Usable as a function (:func:`telephone`) and as the training / evaluation augmentation
(:class:`TelephoneAugment`, which draws the SNR at random; :func:`callemo.train.manifest.load_signals`
uses it with a generator seeded from each row).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from .audio import mp3_delay, resample

TELEPHONE_SR = 8000
BAND = (300.0, 3400.0)
MU = 255.0
#: libsndfile's MP3 ``compression_level`` that gives 16 kbps constant bit rate at 8 kHz
MP3_16KBPS_LEVEL = 0.9


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


def mp3_encode(x: np.ndarray, sr: int) -> bytes:
    """8 kHz audio (1-D or ``(channels, n)``) as the bytes of a 16 kbps constant-bitrate MP3 file."""
    buf = io.BytesIO()
    x = np.asarray(x, np.float32)
    sf.write(buf, x.T if x.ndim == 2 else x, sr, format="MP3", compression_level=MP3_16KBPS_LEVEL,
             bitrate_mode="CONSTANT")
    return buf.getvalue()


def write_mp3(path: str | os.PathLike, x: np.ndarray, sr: int) -> Path:
    """Store 8 kHz audio (1-D or ``(channels, n)``) as 16 kbps constant-bitrate MP3, as archives keep calls."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(mp3_encode(x, sr))
    return p


def mp3_decode(data: bytes, n: int) -> np.ndarray:
    """The mono MP3 file ``data`` decoded, its codec delay dropped, cut or padded to ``n`` samples
    (time-aligned with what was encoded)."""
    y, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    y = np.asarray(y, np.float32)[mp3_delay(data[:8192]) :][:n]
    return np.pad(y, (0, n - len(y))) if len(y) < n else y


def mp3_roundtrip(x: np.ndarray, sr: int = TELEPHONE_SR) -> np.ndarray:
    """``x`` (1-D) through a 16 kbps MP3 file and back, time-aligned and of the same length: the
    archive codec's distortion, for multi-condition training."""
    x = np.asarray(x, np.float32)
    return mp3_decode(mp3_encode(x, sr), len(x))


class TelephoneAugment:
    """Random telephone degradation for training and evaluation, the one used everywhere: with
    probability ``p_noise`` noise at an SNR drawn uniformly from ``snr_range`` (``None``: codec
    only), then :func:`telephone`.

    Draws come from the generator passed per call (``rng``: e.g. seeded from the item, so an item
    always gets the same degradation) or else from the augmenter's own, seeded with ``seed``.
    """

    def __init__(self, snr_range: tuple[float, float] | None = (10.0, 30.0), p_noise: float = 0.7,
                 seed: int | None = None):
        if snr_range is not None and not (len(snr_range) == 2 and snr_range[0] <= snr_range[1]):
            raise ValueError(f"snr_range must be (low, high) with low <= high, got {snr_range}")
        if not 0.0 <= p_noise <= 1.0:
            raise ValueError(f"p_noise must be in [0, 1], got {p_noise}")
        self.snr_range = snr_range
        self.p_noise = p_noise
        self.rng = np.random.default_rng(seed)

    def draw_snr(self, rng: np.random.Generator | None = None) -> float | None:
        """The SNR (dB) of the next item, or ``None`` for no noise."""
        rng = self.rng if rng is None else rng
        if self.snr_range is not None and rng.random() < self.p_noise:
            return float(rng.uniform(*self.snr_range))
        return None

    def __call__(self, x: np.ndarray, sr: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
        rng = self.rng if rng is None else rng
        return telephone(x, sr, snr_db=self.draw_snr(rng), rng=rng)
