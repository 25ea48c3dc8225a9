"""Audio loading, resampling and channel handling.

Everything returns float32 arrays in [-1, 1]. Multi-channel audio is shaped
``(channels, samples)``; mono is 1-D. Bad input raises :class:`AudioError` naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..errors import CallemoError

#: extensions read by :func:`load_audio` (libsndfile reads mp3 since 1.1; librosa/audioread is
#: the fallback for anything libsndfile cannot open)
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".au", ".sph")


class AudioError(CallemoError, ValueError):
    """An audio file cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def is_audio_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, channels and length of a file without reading its samples."""
    p = _check_path(path)
    try:
        i = sf.info(str(p))
        return AudioInfo(str(p), int(i.samplerate), int(i.channels), int(i.frames))
    except Exception:
        x, sr = load_audio(p, mono=False)
        ch = 1 if x.ndim == 1 else x.shape[0]
        return AudioInfo(str(p), sr, ch, x.shape[-1])


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioError(p, "file not found")
    if p.is_dir():
        raise AudioError(p, "is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioError(p, "file is empty (0 bytes)")
    return p


def _read_raw(p: Path, start: float, end: float | None) -> tuple[np.ndarray, int]:
    """Read (samples, channels) float32 with libsndfile, falling back to librosa/audioread."""
    try:
        with sf.SoundFile(str(p)) as f:
            sr = int(f.samplerate)
            first = int(round(start * sr))
            last = f.frames if end is None else min(f.frames, int(round(end * sr)))
            if first > 0:
                f.seek(min(first, f.frames))
            data = f.read(max(0, last - first), dtype="float32", always_2d=True)
        return data, sr
    except Exception as sf_err:  # noqa: BLE001 - try the slower decoder before giving up
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, sr = librosa.load(
                    str(p), sr=None, mono=False, offset=start, duration=None if end is None else end - start
                )
            data = np.atleast_2d(data).T.astype(np.float32)
            return data, int(sr)
        except Exception:
            raise AudioError(p, f"cannot decode audio ({type(sf_err).__name__}: {sf_err})") from None


def load_audio(
    path: str | os.PathLike,
    sr: int | None = None,
    *,
    mono: bool = True,
    channel: int | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> tuple[np.ndarray, int]:
    """Load a file (or the part ``start``..``end`` seconds of it).

    ``sr`` resamples (soxr, high quality); ``channel`` picks one channel; otherwise ``mono``
    averages channels, and ``mono=False`` returns ``(channels, samples)``.
    """
    p = _check_path(path)
    if end is not None and end <= start:
        raise AudioError(p, f"segment end {end} <= start {start}")
    data, file_sr = _read_raw(p, start, end)
    if data.size == 0:
        raise AudioError(p, "no audio samples (zero length)" if start == 0 else f"no samples after {start:.2f} s")
    if not np.all(np.isfinite(data)):
        raise AudioError(p, "audio contains NaN or infinite samples")
    x = data.T  # (channels, samples)
    if channel is not None:
        if not 0 <= channel < x.shape[0]:
            raise AudioError(p, f"has {x.shape[0]} channel(s); channel {channel} requested")
        x = x[channel]
    elif mono:
        x = to_mono(x)
    elif x.shape[0] == 1:
        x = x[0]
    if sr is not None and sr != file_sr:
        x = resample(x, file_sr, sr)
        file_sr = sr
    return np.ascontiguousarray(x, dtype=np.float32), int(file_sr)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels of ``(channels, samples)`` audio; 1-D input is returned as is."""
    x = np.asarray(x, dtype=np.float32)
    return x if x.ndim == 1 else x.mean(axis=0)


def split_channels(x: np.ndarray) -> list[np.ndarray]:
    """The channels of ``(channels, samples)`` audio as a list of 1-D arrays."""
    x = np.asarray(x, dtype=np.float32)
    return [x] if x.ndim == 1 else [np.ascontiguousarray(c) for c in x]


def resample(x: np.ndarray, sr_in: int, sr_out: int, quality: str = "HQ") -> np.ndarray:
    """Resample 1-D or ``(channels, samples)`` audio with soxr."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        return soxr.resample(x, sr_in, sr_out, quality=quality).astype(np.float32)
    return soxr.resample(x.T, sr_in, sr_out, quality=quality).T.astype(np.float32)


def save_audio(path: str | os.PathLike, x: np.ndarray, sr: int, subtype: str | None = None) -> Path:
    """Write 1-D or ``(channels, samples)`` audio (format from the extension)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(x, dtype=np.float32)
    sf.write(str(p), x.T if x.ndim == 2 else x, sr, subtype=subtype)
    return p


def load_segment(path: str | os.PathLike, start: float | None, end: float | None, sr: int) -> np.ndarray:
    """Mono samples of ``path`` between ``start`` and ``end`` (NaN/None = whole file) at ``sr``."""
    s = 0.0 if start is None or (isinstance(start, float) and np.isnan(start)) else float(start)
    e = None if end is None or (isinstance(end, float) and np.isnan(end)) else float(end)
    x, _ = load_audio(path, sr, start=s, end=e)
    return x
