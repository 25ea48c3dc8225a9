"""``prepare_call``: a recording in, speaker turns and emotion segments out, in ORIGINAL time.

Pipeline: load (any rate; stereo = one speaker per channel, mono = diarization) -> silero VAD ->
silence compression map (paper 000; processing only) -> speakers -> roles -> emotion segments.

Audio is kept at a working rate of 8 kHz (telephone input) or 16 kHz (anything wider), as float32:
a one-hour mono call is 115 MB at 8 kHz, and long files are read and resampled block by block, so
the whole preparation of a one-hour call stays far below 2 GB.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..io import audio_info, condition_audio, load_audio, resample
from ..segments import empty_table, intersect_intervals, merge_intervals, set_index
from ..utils import release_free_memory
from .diarize import diarize_regions
from .roles import RoleError, assign_roles, parse_channels
from .segment import emotion_segments
from .silence import TimeMap, compress_map
from .vad import VADSettings, channel_regions, speech_regions

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
    #: mono: how clearly the speech splits between the diarized speakers, 0..1
    #: (:func:`callemo.prep.diarize.separation_confidence`); nan for stereo or fewer than 2 speakers
    diarization_confidence: float = float("nan")

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
        a, b = max(0, round(start * self.sample_rate)), min(len(x), round(end * self.sample_rate))
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


# ----------------------------------------------------------------------------- loading

def _working_rate(sr: int) -> int:
    return 8000 if sr <= 8000 else 16000


def _load(path) -> tuple[np.ndarray, int, int]:
    """``(audio (ch, n) float32 at the working rate, working rate, source rate)``: the one loader,
    :func:`callemo.io.load_audio` (block-wise, conditioned; AudioError for bad files)."""
    info = audio_info(path)
    wr = _working_rate(info.sample_rate)
    x, _ = load_audio(path, wr, mono=False)
    return np.atleast_2d(x), wr, info.sample_rate


def _same_channels(x: np.ndarray) -> bool:
    """True when a 2-channel file carries the same signal twice (a mono call stored as stereo)."""
    a, b = x[0], x[1]
    n = min(len(a), 10 * 60 * 16000)
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    den = np.sqrt((a @ a) * (b @ b))
    return bool(den == 0 or (a @ b) / den > 0.98)


# ----------------------------------------------------------------------------- main entry

def prepare_call(
    path_or_array: str | os.PathLike | np.ndarray,
    sr: int | None = None,
    *,
    channels: str | Sequence[str] | None = None,
    speakers: int | str = 2,
    first_speaker: str = "agent",
    max_silence: float = 3.0,
    target_silence: float = 1.0,
    vad: VADSettings | None = None,
    max_len: float = 20.0,
    min_len: float = 1.0,
    merge_gap: float = 1.5,
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
    ``max_silence`` / ``target_silence``: silence compression (processing only; ``max_silence``
    0 turns it off). ``vad``: speech detection settings (the same the live stream uses).
    ``max_len`` / ``min_len`` / ``merge_gap``: see :func:`callemo.prep.segment.emotion_segments`.
    ``timing`` of the result holds wall seconds spent in ``load``, ``vad``, ``diarize``, ``total``
    and the process's CPU seconds ``cpu``.
    ``regions``: speech regions from elsewhere (an external VAD, or a test's truth) instead of
    silero's: ``[(start, end), ...]`` for mono, one such list per channel for stereo.
    Callers normally build these settings with ``callemo.analyze.options.AnalysisOptions``.
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
        arr = np.asarray(path_or_array)
        if arr.ndim == 2 and arr.shape[0] > arr.shape[1]:
            arr = arr.T  # (samples, channels) -> (channels, samples)
        name = file or "call"
        src_sr = int(sr)
        arr = np.atleast_2d(condition_audio(arr, src_sr, name=file or "array"))  # as a file would be
        wr = _working_rate(src_sr)
        x = resample(arr, src_sr, wr) if src_sr != wr else arr
        x = np.atleast_2d(x)
        if x.shape[1] == 0:
            raise PrepError(f"{file or 'array'}: no audio samples at {wr} Hz "
                            f"({arr.shape[-1]} sample(s) at {src_sr} Hz is too short)")
    duration = x.shape[1] / wr
    timing["load"] = time.perf_counter() - t_start
    force_mono = isinstance(channels, str) and channels.strip().lower() == "mono"
    stereo = x.shape[0] >= 2 and not force_mono and not (x.shape[0] == 2 and channels is None and _same_channels(x))
    settings = vad or VADSettings()

    def time_map(speech: list[tuple[float, float]]) -> tuple[list[tuple[int, int]], TimeMap]:
        if max_silence <= 0:
            return [(0, x.shape[-1])], TimeMap.identity(duration)
        return compress_map(speech, duration, wr, max_silence, target_silence)

    diar_conf = float("nan")
    if stereo:
        try:
            names = parse_channels(channels, x.shape[0])
        except RoleError as err:
            raise PrepError(f"{name}: {err}; callemo analyses mono or 2-channel calls (give --channels mono "
                            "to mix the channels down)") from None
        t = time.perf_counter()
        per = [list(r) for r in regions] if regions is not None else channel_regions(x, wr, settings)
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
        _, tm = time_map(speech)
        audio = x
        n_spk = sum(1 for rr in per if rr)
        channel_speech = dict(enumerate(per))
    else:
        audio = x.mean(axis=0) if x.shape[0] > 1 else x[0]
        t = time.perf_counter()
        # one channel with both speakers: the mixed recording's own speech-start threshold
        mixed = settings.for_mix()
        speech = merge_intervals(list(regions)) if regions is not None else speech_regions(audio, wr, mixed)
        timing["vad"] = time.perf_counter() - t
        release_free_memory()  # the VAD's temporaries, before the diarizer's
        t = time.perf_counter()
        # processing happens on the silence-compressed time line; results are mapped back
        keep, tm = time_map(speech)
        del x
        if speech:
            proc = [(float(tm.to_processed(s)), float(tm.to_processed(e))) for s, e in speech]
            whole = len(keep) == 1 and keep[0] == (0, len(audio))
            y = audio if whole else np.concatenate([audio[a:b] for a, b in keep])
            res = diarize_regions(y, wr, proc, speakers, **(diarize_kw or {}))
            del y
            rows = []
            for a, b, c in res.turns:
                oa, ob = float(tm.to_original(a)), float(tm.to_original(b))
                rows.append({"file": name, "start": oa, "end": ob, "speaker": f"S{c}", "channel": np.nan,
                             "overlap": False})
            overlaps = [(float(tm.to_original(a)), float(tm.to_original(b))) for a, b in res.overlaps]
            for r in rows:
                r["overlap"] = any(a < r["end"] and b > r["start"] for a, b in overlaps)
            turns = set_index(pd.DataFrame(rows))
            n_spk = res.n_speakers
            diar_conf = res.confidence
        else:
            turns, overlaps, n_spk = empty_table(["speaker", "channel", "overlap"]), [], 0
        timing["diarize"] = time.perf_counter() - t
        turns = assign_roles(turns, first_speaker)
        # name speakers after their roles when there are exactly two
        if not turns.empty and n_spk == 2 and turns["role"].nunique() == 2:
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
        first_speaker=first_speaker, timing=timing, diarization_confidence=diar_conf,
    )
