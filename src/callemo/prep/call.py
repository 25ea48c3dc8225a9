"""``prepare_call``: a recording in, speaker turns and emotion segments out, in ORIGINAL time.

Pipeline: load (any rate; stereo = one speaker per channel, mono = diarization) -> silero VAD ->
silence compression map (paper 000; processing only) -> speakers -> roles -> emotion segments.

Audio is kept at a working rate of 8 kHz (telephone input) or 16 kHz (anything wider), as float32:
a one-hour mono call is 115 MB at 8 kHz, and long files are read and resampled block by block, so
the whole preparation of a one-hour call stays far below 2 GB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..io import AudioError, audio_info
from ..segments import empty_table, intersect_intervals, merge_intervals, set_index
from . import vad as _vad
from .diarize import diarize_regions
from .roles import assign_roles, parse_channels
from .segment import emotion_segments
from .silence import TimeMap, compress_map

TURN_COLUMNS = ["speaker", "role", "channel", "overlap"]


class PrepError(CallemoError):
    """A call cannot be prepared (the message names the file)."""


@dataclass
class PreparedCall:
    """A call ready for emotion analysis. All times are seconds of the ORIGINAL recording.

    ``segments``: emotion segments (index ``file, start, end``; columns ``speaker``, ``role``,
    ``channel``, ``overlap``, ``n_turns``, ``unknown``, ``status``). ``turns``: the speaker turns
    they were cut from. ``audio``: float32 at ``sample_rate``, 1-D (mono) or ``(channels, n)``.
    ``speech``: VAD regions (mono: of the call; stereo: union of channels); ``channel_speech``:
    per channel (stereo). ``time_map``: silence-compressed <-> original time. ``overlaps``:
    stretches of (possibly) overlapped speech.
    """

    file: str
    segments: pd.DataFrame
    turns: pd.DataFrame
    audio: np.ndarray
    sample_rate: int
    duration: float
    source_sample_rate: int
    stereo: bool
    channel_names: list[str]
    speech: list[tuple[float, float]]
    channel_speech: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    overlaps: list[tuple[float, float]] = field(default_factory=list)
    time_map: TimeMap | None = None
    n_speakers: int = 0
    first_speaker: str = "agent"
    timing: dict = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        return 1 if self.audio.ndim == 1 else self.audio.shape[0]

    @property
    def speech_duration(self) -> float:
        return float(sum(e - s for s, e in self.speech))

    @property
    def overlap_duration(self) -> float:
        return float(sum(e - s for s, e in self.overlaps))

    def channel_audio(self, channel: int | None = None) -> np.ndarray:
        """One channel (stereo) or the mono signal (``channel=None`` mixes stereo down)."""
        if self.audio.ndim == 1:
            return self.audio
        return self.audio.mean(axis=0) if channel is None else self.audio[int(channel)]

    def segment_audio(self, start: float, end: float, channel: int | None = None, sr: int | None = None) -> np.ndarray:
        """Samples of ``start``..``end`` (original seconds) of a channel (stereo) or the call (mono)."""
        x = self.channel_audio(channel)
        a, b = max(0, int(round(start * self.sample_rate))), min(len(x), int(round(end * self.sample_rate)))
        y = x[a:b]
        if sr is not None and sr != self.sample_rate:
            from ..io import resample

            y = resample(y, self.sample_rate, sr)
        return y

    def iter_segments(self, sr: int | None = None):
        """``(row_index, samples)`` for each emotion segment, from the speaker's own channel."""
        for idx, row in self.segments.iterrows():
            ch = row.get("channel")
            ch = None if (ch is None or pd.isna(ch) or not self.stereo) else int(ch)
            yield idx, self.segment_audio(idx[1], idx[2], ch, sr)

    def compressed_audio(self) -> np.ndarray:
        """The silence-compressed signal (for processing only; map times back with ``time_map``)."""
        from .silence import compress

        return compress(self.audio, self.sample_rate, self.speech)[0]


# ----------------------------------------------------------------------------- loading

def _working_rate(sr: int) -> int:
    return 8000 if sr <= 8000 else 16000


def _load(path, block_s: float = 600.0) -> tuple[np.ndarray, int, int]:
    """``(audio (ch, n) float32 at the working rate, working rate, source rate)``, read in blocks."""
    import soundfile as sf

    p = Path(path)
    info = audio_info(p)  # raises AudioError for missing / empty / undecodable
    if info.frames == 0:
        raise AudioError(p, "no audio samples (zero length)")
    wr = _working_rate(info.sample_rate)
    try:
        f = sf.SoundFile(str(p))
    except Exception:  # noqa: BLE001 - decoders libsndfile lacks: whole-file fallback
        from ..io import load_audio

        x, sr = load_audio(p, wr, mono=False)
        x = np.atleast_2d(x)
        return x, wr, info.sample_rate
    import soxr

    with f:
        n_out = int(np.ceil(f.frames * wr / f.samplerate)) + 16
        out = np.zeros((f.channels, n_out), np.float32)
        stream = soxr.ResampleStream(f.samplerate, wr, f.channels, dtype="float32") if f.samplerate != wr else None
        pos = 0
        bs = int(block_s * f.samplerate)
        read = 0
        while read < f.frames:
            b = f.read(min(bs, f.frames - read), dtype="float32", always_2d=True)
            if len(b) == 0:
                break
            read += len(b)
            last = read >= f.frames
            y = stream.resample_chunk(b, last=last) if stream is not None else b
            if not np.all(np.isfinite(y)):
                raise AudioError(p, "audio contains NaN or infinite samples")
            m = min(len(y), n_out - pos)
            out[:, pos : pos + m] = y[:m].T
            pos += m
    n = int(round(info.frames * wr / info.sample_rate))
    return out[:, :n], wr, info.sample_rate


def _same_channels(x: np.ndarray) -> bool:
    """True when a 2-channel file carries the same signal twice (a mono call stored as stereo)."""
    a, b = x[0], x[1]
    n = min(len(a), 10 * 60 * 16000)
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    den = np.sqrt((a @ a) * (b @ b))
    return bool(den == 0 or (a @ b) / den > 0.98)


# ----------------------------------------------------------------------------- stereo

def _frame_db(x: np.ndarray, sr: int) -> np.ndarray:
    """Energy (dB) of the VAD frames (32 ms)."""
    hop = int(round(_vad.FRAME / _vad.VAD_SR * sr))
    n = int(np.ceil(len(x) / hop))
    pad = np.zeros(n * hop, np.float32)
    pad[: len(x)] = x
    return 10 * np.log10(np.mean(pad.reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-10)


def stereo_speech(x: np.ndarray, sr: int, *, vad_kw: dict | None = None, margin_db: float = 12.0) -> list[list[tuple[float, float]]]:
    """Speech regions of each channel.

    silero's state goes "cold" over a channel's long silences (the other party talking), and it
    then misses the first syllables of a turn. The VAD of the mix stays warm, so each channel's
    probability is ``max(own, mix x [channel energy >= its noise floor + margin_db])``.
    """
    vad_kw = vad_kw or {}
    duration = x.shape[1] / sr
    mix_p = _vad.speech_probabilities(x.mean(axis=0), sr)
    out = []
    for ch in range(x.shape[0]):
        p = _vad.speech_probabilities(x[ch], sr)
        db = _frame_db(x[ch], sr)
        n = min(len(p), len(mix_p), len(db))
        floor = np.percentile(db[:n], 10)
        active = db[:n] >= floor + margin_db
        q = p.copy()
        q[:n] = np.maximum(p[:n], mix_p[:n] * active)
        out.append(_vad.regions_from_probs(q, duration=duration, **vad_kw))
    return out


# ----------------------------------------------------------------------------- main entry

def prepare_call(
    path_or_array: str | os.PathLike | np.ndarray,
    sr: int | None = None,
    channels: str | Sequence[str] | None = None,
    speakers: int | str = 2,
    first_speaker: str = "agent",
    max_silence: float = 3.0,
    target_silence: float = 1.0,
    *,
    max_len: float = 20.0,
    min_len: float = 1.0,
    merge_gap: float = 1.5,
    vad_threshold: float = 0.35,
    min_silence: float = 0.25,
    file: str | None = None,
    regions: Sequence | None = None,
    diarize_kw: dict | None = None,
) -> PreparedCall:
    """Prepare one call for emotion analysis.

    ``path_or_array``: an audio file, or samples (1-D mono, or ``(channels, samples)``) with ``sr``.
    ``channels``: for a 2-channel input, the names of the channels (``"agent,client"`` or a list;
    default channel 0 = agent, channel 1 = client); ``"mono"`` mixes the channels down and
    diarizes (a 2-channel file that carries the same signal twice is always treated as mono).
    ``speakers``: speakers to find in a mono call (``2``, any int, or ``"auto"``).
    ``first_speaker``: role of the first speaker to talk in a mono call (``agent`` or ``client``).
    ``max_silence`` / ``target_silence``: silence compression (processing only).
    ``max_len`` / ``min_len`` / ``merge_gap``: see :func:`callemo.prep.segment.emotion_segments`.
    ``timing`` of the result holds wall seconds spent in ``load``, ``vad``, ``diarize``, ``total``
    and the process's CPU seconds ``cpu``.
    ``regions``: speech regions from elsewhere (an external VAD, or a test's truth) instead of
    silero's: ``[(start, end), ...]`` for mono, one such list per channel for stereo.
    """
    import time

    t_start = time.perf_counter()
    c_start = time.process_time()
    timing: dict[str, float] = {}
    if isinstance(path_or_array, (str, os.PathLike)):
        name = file or Path(path_or_array).stem
        x, wr, src_sr = _load(path_or_array)
    else:
        if sr is None:
            raise PrepError("prepare_call needs sr= when given samples instead of a file")
        arr = np.asarray(path_or_array, np.float32)
        if arr.ndim == 2 and arr.shape[0] > arr.shape[1]:
            arr = arr.T  # (samples, channels) -> (channels, samples)
        arr = np.atleast_2d(arr)
        if arr.size == 0:
            raise PrepError(f"{file or 'array'}: no audio samples")
        if not np.all(np.isfinite(arr)):
            raise PrepError(f"{file or 'array'}: audio contains NaN or infinite samples")
        name = file or "call"
        src_sr = int(sr)
        wr = _working_rate(src_sr)
        from ..io import resample

        x = resample(arr, src_sr, wr) if src_sr != wr else arr
        x = np.atleast_2d(x)
    duration = x.shape[1] / wr
    timing["load"] = time.perf_counter() - t_start
    force_mono = isinstance(channels, str) and channels.strip().lower() == "mono"
    stereo = x.shape[0] >= 2 and not force_mono and not (x.shape[0] == 2 and channels is None and _same_channels(x))
    vad_kw = {"threshold": vad_threshold, "min_silence": min_silence}
    if stereo:
        names = parse_channels(channels, x.shape[0])
        t = time.perf_counter()
        per = [list(r) for r in regions] if regions is not None else stereo_speech(x, wr, vad_kw=vad_kw)
        timing["vad"] = time.perf_counter() - t
        rows, overlaps = [], []
        for ch, regs in enumerate(per):
            others = merge_intervals([r for k, rr in enumerate(per) if k != ch for r in rr])
            ov = intersect_intervals(regs, others, 0.1)
            overlaps += ov
            for s, e in regs:
                rows.append({"file": name, "start": s, "end": e, "speaker": names[ch], "channel": ch,
                             "overlap": any(a < e and b > s for a, b in ov)})
        overlaps = merge_intervals(overlaps)
        turns = set_index(pd.DataFrame(rows)) if rows else empty_table(["speaker", "channel", "overlap"])
        turns = assign_roles(turns, first_speaker, channels=names)
        speech = merge_intervals([r for rr in per for r in rr])
        _, tm = compress_map(speech, duration, wr, max_silence, target_silence)
        audio = x
        n_spk = sum(1 for rr in per if rr)
        channel_speech = {ch: regs for ch, regs in enumerate(per)}
    else:
        audio = x.mean(axis=0) if x.shape[0] > 1 else x[0]
        del x
        t = time.perf_counter()
        speech = merge_intervals(list(regions)) if regions is not None else _vad.speech_regions(audio, wr, **vad_kw)
        timing["vad"] = time.perf_counter() - t
        t = time.perf_counter()
        # processing happens on the silence-compressed time line; results are mapped back
        _, tm = compress_map(speech, duration, wr, max_silence, target_silence)
        if speech:
            proc = [(float(tm.to_processed(s)), float(tm.to_processed(e))) for s, e in speech]
            keep, _ = compress_map(speech, duration, wr, max_silence, target_silence)
            y = audio if len(keep) == 1 and keep[0] == (0, len(audio)) else np.concatenate([audio[a:b] for a, b in keep])
            res = diarize_regions(y, wr, proc, speakers, **(diarize_kw or {}))
            del y
            rows = []
            for a, b, c in res.turns:
                oa, ob = float(tm.to_original(a)), float(tm.to_original(b))
                rows.append({"file": name, "start": oa, "end": ob, "speaker": f"S{c}", "channel": 0, "overlap": False})
            overlaps = [(float(tm.to_original(a)), float(tm.to_original(b))) for a, b in res.overlaps]
            for r in rows:
                r["overlap"] = any(a < r["end"] and b > r["start"] for a, b in overlaps)
            turns = set_index(pd.DataFrame(rows))
            n_spk = res.n_speakers
        else:
            turns, overlaps, n_spk = empty_table(["speaker", "channel", "overlap"]), [], 0
        timing["diarize"] = time.perf_counter() - t
        turns = assign_roles(turns, first_speaker)
        if not turns.empty:  # name speakers after their roles when there are exactly two
            if n_spk == 2 and turns["role"].nunique() == 2:
                turns["speaker"] = turns["role"]
        channel_speech = {0: speech}
        names = ["mono"]
    turns = turns.reindex(columns=TURN_COLUMNS)
    segments = emotion_segments(turns, max_len=max_len, min_len=min_len, merge_gap=merge_gap)
    timing["total"] = time.perf_counter() - t_start
    timing["cpu"] = time.process_time() - c_start  # CPU seconds of this process (all threads)
    return PreparedCall(
        file=name, segments=segments, turns=turns, audio=audio, sample_rate=wr, duration=duration,
        source_sample_rate=src_sr, stereo=stereo, channel_names=names, speech=speech,
        channel_speech=channel_speech, overlaps=overlaps, time_map=tm, n_speakers=n_spk,
        first_speaker=first_speaker, timing=timing,
    )
