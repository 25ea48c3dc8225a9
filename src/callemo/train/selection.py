"""Choose the calls worth annotating (paper 000): rank recordings by F0 variability.

Paper 000 compresses silences longer than 3 s to 1 s, extracts eGeMAPS with openSMILE and
ranks the calls by descending F0 standard deviation: a lively F0 goes with emotions such as
happiness and anger, so the top of the ranking is the most likely to carry emotion.

:func:`rank_calls` does the same. The F0 variability measure (``backend``):

* ``egemaps`` (when openSMILE is installed): ``F0semitoneFrom27.5Hz_sma3nz_stddevNorm``, the
  eGeMAPS F0 (semitones re 27.5 Hz, voiced frames) standard deviation normalised by its mean,
  i.e. a coefficient of variation;
* ``prosody`` (otherwise): the project's own extractor (:mod:`callemo.features.prosody`),
  ``f0_std_semitones``, the standard deviation of F0 in semitones over voiced frames;
* ``yin``: a small private fallback (librosa's YIN F0 with an energy/periodicity voicing mask,
  standard deviation in semitones), used only when neither of the above can run.

The values of different backends are on different scales: rank one set of calls with one backend.

Silence compression: silent stretches are found by frame energy (``vad="energy"``, fast, what
"detecting all the silence segments" amounts to) or by the project's speech detector
(``vad="silero"``, :func:`callemo.prep.vad.speech_regions`); the compression itself is the call
pipeline's :func:`callemo.prep.silence.compress` (silences over ``max_silence`` s become ``target`` s).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..prep.silence import compress as prep_compress

EGEMAPS_F0 = "F0semitoneFrom27.5Hz_sma3nz_stddevNorm"
PROSODY_F0 = "f0_std_semitones"
BACKENDS = ("auto", "egemaps", "prosody", "yin")


class SelectionError(CallemoError):
    """Call selection cannot run (no audio found, unknown backend...)."""


# ---------------------------------------------------------------------------- silence compression

def energy_regions(x: np.ndarray, sr: int, *, frame_s: float = 0.025, hop_s: float = 0.010,
                   floor_db: float = 35.0, min_gap: float = 0.3, min_region: float = 0.05) -> list[tuple[float, float]]:
    """Non-silent regions ``[(start, end), ...]`` in seconds by frame energy.

    A frame is sound when its level is within ``floor_db`` dB of the loud frames' level (95th
    percentile) and above -70 dBFS; gaps shorter than ``min_gap`` are bridged.
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        return []
    win, hop = max(1, int(frame_s * sr)), max(1, int(hop_s * sr))
    n = 1 + max(0, len(x) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    fr = x[np.minimum(idx, len(x) - 1)]
    db = 10 * np.log10(np.mean(fr.astype(np.float64) ** 2, axis=1) + 1e-12)
    thr = max(np.percentile(db, 95) - floor_db, -70.0)
    active = db > thr
    regions: list[list[float]] = []
    for k in np.flatnonzero(active):
        s, e = k * hop / sr, (k * hop + win) / sr
        if regions and s - regions[-1][1] <= min_gap:
            regions[-1][1] = max(regions[-1][1], e)
        else:
            regions.append([s, e])
    dur = len(x) / sr
    return [(s, min(e, dur)) for s, e in regions if e - s >= min_region]


def compress(x: np.ndarray, sr: int, *, max_silence: float = 3.0, target: float = 1.0,
             vad: str = "energy") -> tuple[np.ndarray, str]:
    """Silence-compressed signal and a note saying how it was done."""
    if vad == "silero":
        from ..prep.vad import speech_regions

        regions = speech_regions(x, sr)
    elif vad == "energy":
        regions = energy_regions(x, sr)
    else:
        raise SelectionError(f"unknown silence detector {vad!r} (energy, silero)")
    if not regions:  # nothing but silence (or a detector that hears no speech): leave it whole
        return np.asarray(x, dtype=np.float32), f"{vad}: no sound found, not compressed"
    y, _ = prep_compress(x, sr, regions, max_silence=max_silence, target=target)
    return np.asarray(y, dtype=np.float32), f"{vad}+prep.silence"


# ------------------------------------------------------------------------------------ F0 measures

def _yin_f0_std(x: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 500.0) -> float:
    """Standard deviation (semitones) of YIN F0 over voiced, loud frames (private fallback)."""
    import librosa

    if sr > 16000:
        from ..io import resample

        x, sr = resample(x, sr, 16000), 16000
    hop = int(0.01 * sr)
    frame = int(0.04 * sr)
    if len(x) < frame * 2:
        return float("nan")
    f0 = librosa.yin(np.asarray(x, np.float32), fmin=fmin, fmax=fmax, sr=sr, frame_length=2 * frame,
                     hop_length=hop, trough_threshold=0.1)
    rms = librosa.feature.rms(y=np.asarray(x, np.float32), frame_length=2 * frame, hop_length=hop)[0]
    n = min(len(f0), len(rms))
    f0, rms = f0[:n], rms[:n]
    db = 20 * np.log10(rms + 1e-9)
    voiced = (db > np.percentile(db, 95) - 30) & (f0 > fmin * 1.05) & (f0 < fmax * 0.95)
    if voiced.sum() < 10:
        return float("nan")
    st = 12 * np.log2(f0[voiced] / 27.5)
    return float(np.std(st))


class F0Measure:
    """The F0 variability measure of one backend (see the module doc)."""

    def __init__(self, backend: str = "auto", *, sample_rate: int = 16000):
        if backend not in BACKENDS:
            raise SelectionError(f"unknown F0 backend {backend!r} ({', '.join(BACKENDS)})")
        self.sample_rate = sample_rate
        self.extractor = None
        self.index = None
        self.notes: list[str] = []
        order = [backend] if backend != "auto" else ["egemaps", "prosody", "yin"]
        for b in order:
            if b == "yin":
                self.backend, self.feature = "yin", "f0_std_semitones(yin)"
                break
            try:
                from ..features import get_extractor

                ext = get_extractor(b, sample_rate=sample_rate)
                names = ext.feature_names  # opensmile is loaded here (raises when it is missing)
                name = EGEMAPS_F0 if b == "egemaps" else PROSODY_F0
                self.index = names.index(name)
                self.extractor, self.backend, self.feature = ext, b, name
                break
            except (ImportError, CallemoError, ValueError, KeyError) as e:
                if backend != "auto":
                    raise SelectionError(f"F0 backend {b!r} is not available: {e}") from None
                self.notes.append(f"{b} not available ({e}); ")

    def __call__(self, x: np.ndarray, sr: int, *, cache: bool = True) -> float:
        if self.extractor is None:
            return _yin_f0_std(x, sr)
        from ..io import resample

        if sr != self.extractor.sample_rate:
            x, sr = resample(np.asarray(x, np.float32), sr, self.extractor.sample_rate), self.extractor.sample_rate
        if cache:
            from ..features import extract

            v = np.asarray(extract(self.extractor, [x], sr=sr, cache=True))[0]
        else:
            v = self.extractor.process_signal(x, sr)
        val = float(v[self.index])
        return val if val != 0.0 else float("nan")  # extractors write 0 where F0 is undefined


# ------------------------------------------------------------------------------------------ ranking

def audio_files(paths: str | os.PathLike | Iterable[str | os.PathLike], *, recursive: bool = True) -> list[Path]:
    """The audio files of a folder (recursively) and/or a list of files, sorted."""
    from ..io.audio import AUDIO_EXTENSIONS

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            it = p.rglob("*") if recursive else p.glob("*")
            out.extend(f for f in it if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
        elif p.is_file():
            out.append(p)
        else:
            raise SelectionError(f"{p}: no such file or folder")
    return sorted(set(out))


def rank_calls(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    top: int | None = None,
    backend: str = "auto",
    compress_silence: bool = True,
    max_silence: float = 3.0,
    target: float = 1.0,
    vad: str = "energy",
    sr: int = 16000,
    cache: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Rank recordings by F0 variability after silence compression, most variable first.

    Returns columns ``rank, path, score, feature, backend, duration, compressed_duration,
    compression, error`` (unreadable files and files without voiced speech come last with a NaN
    score and the reason in ``error``). ``top`` keeps the first ``top`` rows.
    """
    from ..io import AudioError, load_audio

    if not 0 < target <= max_silence:
        raise SelectionError(f"the compressed silence ({target:g} s) must be positive and no longer than "
                             f"--max-silence ({max_silence:g} s)")
    files = audio_files(paths)
    if not files:
        where = paths if isinstance(paths, (str, os.PathLike)) else "the paths given"
        raise SelectionError(f"no audio files found in {where}")
    measure = F0Measure(backend, sample_rate=sr)
    rows = []
    it: Iterable[Path] = files
    if progress:
        from rich.progress import track

        it = track(files, description=f"F0 of {len(files)} recordings", transient=True)
    for f in it:
        rec = {"path": str(f), "score": math.nan, "feature": measure.feature, "backend": measure.backend,
               "duration": math.nan, "compressed_duration": math.nan, "compression": "", "error": ""}
        try:
            x, fsr = load_audio(f, sr)
        except AudioError as e:
            rec["error"] = str(e)
            rows.append(rec)
            continue
        rec["duration"] = len(x) / fsr
        if compress_silence:
            x, how = compress(x, fsr, max_silence=max_silence, target=target, vad=vad)
            rec["compression"] = how
        rec["compressed_duration"] = len(x) / fsr
        score = measure(x, fsr, cache=cache) if len(x) else math.nan
        rec["score"] = score
        if not math.isfinite(score):
            rec["error"] = "no voiced speech found"
        rows.append(rec)
    df = pd.DataFrame(rows)
    df = df.sort_values("score", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df.attrs["notes"] = "".join(measure.notes)
    if top is not None:
        df = df.head(int(top))
    return df


__all__ = [
    "BACKENDS",
    "EGEMAPS_F0",
    "PROSODY_F0",
    "F0Measure",
    "SelectionError",
    "audio_files",
    "compress",
    "energy_regions",
    "rank_calls",
]
