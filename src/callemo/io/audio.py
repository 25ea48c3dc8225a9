"""The one audio loader: decoding, gapless MP3, input conditioning, resampling, channels.

Everything returns float32 arrays; multi-channel audio is shaped ``(channels, samples)`` and mono
is 1-D. Bad input raises :class:`AudioError` naming the file and the problem. Every path that
reads audio (:func:`load_audio`, :func:`load_segment`, :func:`iter_blocks`, and arrays through
:func:`condition_audio`) gets the same **input conditioning**:

- **DC removal**: a 2nd-order Butterworth high-pass at :data:`HIGHPASS_HZ` (30 Hz), run causally
  block by block with its state carried over, started from the signal's initial level so that a
  constant offset leaves no transient. Speech has no energy there; a DC offset (or hum drift)
  otherwise shifts energy and spectral features and changes the emotions.
- **Sample rate**: below :data:`MIN_SAMPLE_RATE` is refused; below 8 kHz gives an
  :class:`AudioWarning` (the telephone band is cut, results are unreliable).
- **Level of float files**: float samples whose peak exceeds :data:`FLOAT_PEAK_LIMIT` (e.g.
  int16 values stored as float) are scaled to a peak of 1 with an :class:`AudioWarning`.
- **NaN / infinite samples** raise :class:`AudioError`.
- **MP3 encoder delay**: files with a Xing/Info (LAME) gapless header are trimmed by the decoder
  (libmpg123 inside libsndfile). Low-bitrate LAME files have no room for that header (a 16 kbps
  frame at 8 kHz is 144 bytes), and then the decoder keeps LAME's 576 encoder + 529 decoder
  samples of delay (whether or not the file names LAME: it does so only in quiet frames);
  :func:`mp3_leading_samples` finds them and they are dropped, so times are not 0.14 s late.

Long files are read in blocks (``block_s``) and resampled with a streaming soxr resampler into a
preallocated array, so the peak memory is about the size of the result.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from ..errors import CallemoError

#: extensions read by :func:`load_audio` (libsndfile reads mp3 since 1.1; librosa/audioread is
#: the fallback for anything libsndfile cannot open)
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".au", ".sph")
#: high-pass (DC removal) cut-off in Hz, 2nd-order Butterworth
HIGHPASS_HZ = 30.0
#: rates below this are not audio we can analyse (AudioError)
MIN_SAMPLE_RATE = 1000
#: rates below this give an AudioWarning
LOW_SAMPLE_RATE = 8000
#: float samples with a larger peak are scaled to peak 1 (with a warning)
FLOAT_PEAK_LIMIT = 2.0
#: samples of delay LAME adds in front: 576 (encoder) + 529 (mpg123 decoder)
LAME_DELAY = 576 + 529
#: seconds of audio averaged for the high-pass filter's initial state
_DC_INIT_S = 0.02


class AudioError(CallemoError, ValueError):
    """An audio file cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class AudioWarning(UserWarning):
    """Audio that is used, but changed or doubtful (low rate, rescaled float samples)."""


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


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioError(p, "file not found")
    if p.is_dir():
        raise AudioError(p, "is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioError(p, "file is empty (0 bytes)")
    return p


def _check_rate(name: str | os.PathLike | None, sr: int) -> None:
    if sr < MIN_SAMPLE_RATE:
        raise AudioError(name, f"sample rate {sr} Hz is too low for speech (minimum {MIN_SAMPLE_RATE} Hz)")
    if sr < LOW_SAMPLE_RATE:
        where = f"{name}: " if name is not None else ""
        warnings.warn(f"{where}sample rate {sr} Hz is below 8 kHz: the telephone band (300-3400 Hz) is cut and "
                      "results are unreliable", AudioWarning, stacklevel=3)


# ----------------------------------------------------------------------------- MP3 gapless

def _id3v2_size(head: bytes) -> int:
    """Length of a leading ID3v2 tag (0 when there is none)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _first_frame(data: bytes) -> int | None:
    """Offset of the first MPEG layer III frame header in ``data``."""
    for i in range(len(data) - 4):
        if data[i] == 0xFF and (data[i + 1] & 0xE0) == 0xE0:
            version, layer = (data[i + 1] >> 3) & 3, (data[i + 1] >> 1) & 3
            bitrate, rate = data[i + 2] >> 4, (data[i + 2] >> 2) & 3
            if version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3:
                return i
    return None


@functools.lru_cache(maxsize=256)
def _mp3_leading_samples(path: str, size: int, mtime_ns: int) -> int:
    with open(path, "rb") as f:
        head = f.read(10)
        f.seek(_id3v2_size(head))
        data = f.read(8192)
    return mp3_delay(data)


def mp3_delay(data: bytes) -> int:
    """Samples of delay libsndfile leaves in front of the MP3 stream ``data`` (its first bytes,
    after any ID3v2 tag; see :func:`mp3_leading_samples`)."""
    i = _first_frame(data)
    if i is None:
        return 0
    mpeg1 = (data[i + 1] >> 3) & 3 == 3
    mono = data[i + 3] >> 6 == 3
    crc = 0 if data[i + 1] & 1 else 2
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    tag = i + 4 + crc + side
    if data[tag : tag + 4] in (b"Xing", b"Info"):
        return 0  # gapless header: the decoder trims delay and padding itself
    # No header: the decoder keeps every sample of delay. LAME's is assumed whether or not its
    # name shows (it writes "LAME" only into spare bits of quiet frames, so a call that starts
    # with line noise never shows it): LAME is the encoder of libsndfile, ffmpeg and telephony
    # recorders, and any other encoder still has the 529-sample decoder delay.
    return LAME_DELAY


def mp3_leading_samples(path: str | os.PathLike) -> int:
    """Samples of encoder/decoder delay that libsndfile leaves in front of an MP3 file's audio.

    0 for other formats and for MP3 files with a Xing/Info gapless header (the decoder removes the
    delay then); :data:`LAME_DELAY` for MP3 files without the header (low-bitrate files, whose
    first frame has no room for it), whose encoder is taken to be LAME.
    """
    p = Path(path)
    if p.suffix.lower() != ".mp3":
        return 0
    st = p.stat()
    return _mp3_leading_samples(str(p), st.st_size, st.st_mtime_ns)


# ----------------------------------------------------------------------------- conditioning

@functools.lru_cache(maxsize=64)
def _highpass(sr: int) -> np.ndarray:
    return signal.butter(2, HIGHPASS_HZ, btype="highpass", fs=sr, output="sos")


class Conditioner:
    """Block-by-block input conditioning of one stream of ``(samples, channels)`` float32 blocks:
    scale (``gain``) and DC-removing high-pass with the filter state carried between blocks."""

    def __init__(self, sr: int, channels: int, gain: float = 1.0):
        self.sos = _highpass(int(sr))
        self.sr = int(sr)
        self.channels = int(channels)
        self.gain = float(gain)
        self.zi: np.ndarray | None = None

    #: rows filtered at a time (float64 work arrays stay small whatever the block length)
    CHUNK = 1 << 17

    def __call__(self, block: np.ndarray) -> np.ndarray:
        b = np.asarray(block).reshape(len(block), self.channels)
        out = np.empty(b.shape, np.float32)
        for i in range(0, len(b), self.CHUNK):
            c = b[i : i + self.CHUNK].astype(np.float64)
            if self.gain != 1.0:
                c *= self.gain
            if self.zi is None:
                level = c[: max(1, int(_DC_INIT_S * self.sr))].mean(axis=0)  # (channels,)
                self.zi = signal.sosfilt_zi(self.sos)[:, :, None] * level[None, None, :]
            y, self.zi = signal.sosfilt(self.sos, c, axis=0, zi=self.zi)
            out[i : i + self.CHUNK] = y
        return out


def _peak_gain(name: str | os.PathLike | None, peak: float) -> float:
    """1.0, or ``1 / peak`` with a warning when float samples reach beyond :data:`FLOAT_PEAK_LIMIT`."""
    if peak <= FLOAT_PEAK_LIMIT:
        return 1.0
    where = f"{name}: " if name is not None else ""
    warnings.warn(f"{where}float samples reach {peak:.4g}, far outside [-1, 1]: scaled to a peak of 1",
                  AudioWarning, stacklevel=3)
    return 1.0 / peak


def condition_audio(x: np.ndarray, sr: int, *, name: str | os.PathLike | None = None) -> np.ndarray:
    """Condition audio already in memory like a file: 1-D or ``(channels, samples)``, float or
    integer samples (integers are scaled by their type's range). Returns float32 of the same shape.

    Raises :class:`AudioError` (naming ``name``) for empty, non-numeric, NaN/infinite audio or a rate
    below :data:`MIN_SAMPLE_RATE`.
    """
    a = np.asarray(x)
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        mid = (int(info.max) + int(info.min) + 1) / 2  # 0 for signed types, 128 for uint8
        a = (a.astype(np.float64) - mid) / (int(info.max) + 1 - mid)
    elif a.dtype.kind != "f":
        raise AudioError(name, f"audio samples must be numbers, not {a.dtype}")
    if a.ndim not in (1, 2):
        raise AudioError(name, f"audio must be 1-D or (channels, samples), got shape {a.shape}")
    if a.size == 0:
        raise AudioError(name, "no audio samples (zero length)")
    if not np.all(np.isfinite(a)):
        raise AudioError(name, "audio contains NaN or infinite samples")
    _check_rate(name, int(sr))
    two = np.atleast_2d(a)
    gain = _peak_gain(name, float(np.max(np.abs(two)))) if np.asarray(x).dtype.kind == "f" else 1.0
    y = Conditioner(sr, two.shape[0], gain)(two.T).T
    return np.ascontiguousarray(y[0] if a.ndim == 1 else y, dtype=np.float32)


# ----------------------------------------------------------------------------- reading

@functools.lru_cache(maxsize=64)
def _float_peak(path: str, size: int, mtime_ns: int, skip: int) -> float:
    peak = 0.0
    try:
        with sf.SoundFile(path) as f:
            f.seek(skip)
            for b in f.blocks(blocksize=1 << 20, dtype="float32", always_2d=True):
                if b.size:
                    m = float(np.max(np.abs(b)))
                    if np.isfinite(m):
                        peak = max(peak, m)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"cannot decode audio ({err})") from None
    return peak


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, channels and length of a file without reading its samples."""
    p = _check_path(path)
    try:
        i = sf.info(str(p))
    except Exception:
        x, sr = load_audio(p, mono=False, condition=False)
        ch = 1 if x.ndim == 1 else x.shape[0]
        return AudioInfo(str(p), sr, ch, x.shape[-1])
    return AudioInfo(str(p), int(i.samplerate), int(i.channels), max(0, int(i.frames) - mp3_leading_samples(p)))


def _select(b: np.ndarray, mono: bool, channel: int | None) -> np.ndarray:
    """``(n, ch)`` -> ``(n, 1)`` for a channel or the mono mix, else unchanged."""
    if channel is not None:
        return b[:, channel : channel + 1]
    if mono and b.shape[1] > 1:
        return b.mean(axis=1, keepdims=True)
    return b


def _fallback_read(p: Path, start: float, end: float | None, err: Exception) -> tuple[np.ndarray, int]:
    """``(samples, channels)`` float32 of a file libsndfile cannot open, with librosa/audioread."""
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, sr = librosa.load(str(p), sr=None, mono=False, offset=start,
                                    duration=None if end is None else end - start)
    except Exception:
        raise AudioError(p, f"cannot decode audio ({type(err).__name__}: {err})") from None
    return np.atleast_2d(data).T.astype(np.float32), int(sr)


def _open(p: Path) -> sf.SoundFile | Exception:
    try:
        return sf.SoundFile(str(p))
    except Exception as e:
        return e


@dataclass
class _Plan:
    """What a read will produce: source rate, output rate, channels out, samples out."""

    sr_in: int
    sr_out: int
    channels: int
    frames_in: int

    @property
    def frames_out(self) -> int:
        # half-up, as soxr's one-shot resample sizes its output (Python's round() halves to even)
        return (2 * self.frames_in * self.sr_out + self.sr_in) // (2 * self.sr_in)


def _blocks(
    p: Path, *, block_s: float, start: float, end: float | None, sr: int | None, mono: bool,
    channel: int | None, condition: bool,
) -> tuple[_Plan, Iterator[np.ndarray]]:
    """The read plan and a generator of ``(n, channels)`` float32 blocks at the output rate."""
    if not np.isfinite(start) or start < 0 or (end is not None and not np.isfinite(end)):
        raise AudioError(p, f"bad segment bounds start={start}, end={end}")
    if end is not None and end <= start:
        raise AudioError(p, f"segment end {end} <= start {start}")
    f = _open(p)
    if isinstance(f, Exception):
        data, file_sr = _fallback_read(p, start, end, f)
        if not np.all(np.isfinite(data)):
            raise AudioError(p, "audio contains NaN or infinite samples")
        gain = _peak_gain(p, float(np.max(np.abs(data)))) if data.size and condition else 1.0
        plan = _plan(p, file_sr, data.shape[1], len(data), start, sr, mono, channel)
        return plan, _stream(p, iter([data]), plan, mono, channel, gain if condition else None)
    try:
        file_sr, n_ch = int(f.samplerate), int(f.channels)
        skip = mp3_leading_samples(p)
        total = max(0, int(f.frames) - skip)
        first = min(total, round(start * file_sr))
        last = total if end is None else min(total, round(end * file_sr))
        plan = _plan(p, file_sr, n_ch, max(0, last - first), start, sr, mono, channel)
        gain = 1.0
        if condition and f.subtype in ("FLOAT", "DOUBLE"):
            st = p.stat()
            gain = _peak_gain(p, _float_peak(str(p), st.st_size, st.st_mtime_ns, skip))
    except BaseException:
        f.close()
        raise

    def source() -> Iterator[np.ndarray]:
        with f:
            left = last - first
            step = max(1, int(block_s * file_sr))
            try:
                f.seek(first + skip)
                while left > 0:
                    b = f.read(min(step, left), dtype="float32", always_2d=True)
                    if len(b) == 0:
                        break
                    left -= len(b)
                    yield b
            except (sf.LibsndfileError, RuntimeError) as err:  # a damaged file fails while it is read
                raise AudioError(p, f"cannot decode audio ({err})") from None

    return plan, _stream(p, source(), plan, mono, channel, gain if condition else None)


def _plan(p: Path, file_sr: int, n_ch: int, n: int, start: float, sr: int | None, mono: bool,
          channel: int | None) -> _Plan:
    if channel is not None and not 0 <= channel < n_ch:
        raise AudioError(p, f"has {n_ch} channel(s); channel {channel} requested")
    if n == 0:
        raise AudioError(p, "no audio samples (zero length)" if start == 0 else f"no samples after {start:.2f} s")
    _check_rate(p, file_sr)
    if sr is not None and int(sr) < MIN_SAMPLE_RATE:
        raise AudioError(p, f"cannot resample to {sr} Hz (minimum {MIN_SAMPLE_RATE} Hz)")
    out_ch = 1 if (channel is not None or mono) else n_ch
    return _Plan(file_sr, int(sr) if sr else file_sr, out_ch, n)


def _stream(p: Path, source: Iterator[np.ndarray], plan: _Plan, mono: bool, channel: int | None,
            gain: float | None) -> Iterator[np.ndarray]:
    """Select channels, condition (unless ``gain`` is None) and resample each source block. The
    (linear) conditioning runs at the lower of the two rates: before downsampling it would filter
    samples that are about to be dropped."""
    low = min(plan.sr_in, plan.sr_out)
    cond = Conditioner(low, plan.channels, gain) if gain is not None else None
    rs = (soxr.ResampleStream(plan.sr_in, plan.sr_out, plan.channels, dtype="float32")
          if plan.sr_out != plan.sr_in else None)
    b = next(source, None)
    while b is not None:
        nxt = next(source, None)
        if not np.all(np.isfinite(b)):
            raise AudioError(p, "audio contains NaN or infinite samples")
        y = np.ascontiguousarray(_select(b, mono, channel), dtype=np.float32)
        if cond is not None and low == plan.sr_in:
            y = cond(y)
        if rs is not None:
            y = rs.resample_chunk(y, last=nxt is None).reshape(-1, plan.channels)
        if cond is not None and low < plan.sr_in:
            y = cond(y)
        yield y
        b = nxt


def iter_blocks(
    path: str | os.PathLike,
    *,
    block_s: float = 600.0,
    sr: int | None = None,
    mono: bool = True,
    channel: int | None = None,
    start: float = 0.0,
    end: float | None = None,
    condition: bool = True,
) -> Iterator[np.ndarray]:
    """Blocks of ``block_s`` seconds of a file, conditioned (and resampled to ``sr``), shaped like
    :func:`load_audio`'s result: 1-D for ``mono``, a ``channel`` or a mono file, else
    ``(channels, samples)``. Lengths add up to about ``duration * sr`` (the streaming resampler's
    edge may differ by a few samples)."""
    p = _check_path(path)
    plan, blocks = _blocks(p, block_s=block_s, start=start, end=end, sr=sr, mono=mono, channel=channel,
                           condition=condition)
    for b in blocks:
        yield np.ascontiguousarray(b[:, 0] if plan.channels == 1 else b.T)


def load_audio(
    path: str | os.PathLike,
    sr: int | None = None,
    *,
    mono: bool = True,
    channel: int | None = None,
    start: float = 0.0,
    end: float | None = None,
    block_s: float = 600.0,
    condition: bool = True,
) -> tuple[np.ndarray, int]:
    """Load a file (or the part ``start``..``end`` seconds of it), conditioned (module docstring).

    ``sr`` resamples (soxr, high quality); ``channel`` picks one channel; otherwise ``mono``
    averages channels, and ``mono=False`` returns ``(channels, samples)`` (1-D for a mono file).
    ``condition=False`` gives the decoded samples unchanged (for tests and tools that must see them).
    """
    p = _check_path(path)
    plan, blocks = _blocks(p, block_s=block_s, start=start, end=end, sr=sr, mono=mono, channel=channel,
                           condition=condition)
    n = plan.frames_out
    out = np.zeros((plan.channels, n), np.float32)  # the result's layout: no copy at the end
    pos = 0
    for b in blocks:
        m = min(len(b), n - pos)
        out[:, pos : pos + m] = b[:m].T
        pos += m
    if n == 0:
        raise AudioError(p, "no audio samples (zero length)")
    return (out[0] if plan.channels == 1 else out), plan.sr_out


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
