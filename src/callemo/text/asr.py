"""Offline speech recognition with faster-whisper (CTranslate2, int8 on the CPU).

Two models, both shipped as packages (no download at run time; see :mod:`callemo.io.whisper_models`):

* ``base``: the multilingual Whisper base (detects the language);
* ``tiny.en``: English only, smaller and faster.

:func:`load_asr` loads a model once per process. :meth:`Asr.transcribe` transcribes one signal
(any sample rate; resampled to 16 kHz with soxr) with word timings. :func:`transcribe_segments`
transcribes the speech of a call's segment table: the segments of each source (a stereo
channel, or the mono mix) are joined with short silences into one speech-only signal that
Whisper decodes in 30 s windows, and each recognised word goes back to the segment it was cut
from (by the word's midpoint), in original time. That is faster than decoding each segment
alone (Whisper's encoder always sees a 30 s window, so a 2 s turn would cost as much as 30 s)
and more accurate (words keep their context; silences between turns are not decoded, which
is where Whisper hallucinates). The language is detected once per call, on its first 30 s
of speech.

Nothing here logs what was said: transcripts may hold personal data (see :mod:`callemo.text.redact`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..io import resample
from ..io.whisper_models import WHISPER_MODELS, WhisperModelError, whisper_model_dir

__all__ = [
    "ASR_MODELS",
    "Asr",
    "AsrError",
    "Transcript",
    "check_language",
    "load_asr",
    "transcribe_segments",
]

ASR_SR = 16000
ASR_MODELS = WHISPER_MODELS
#: silence put between two segments when they are joined for decoding (s)
GAP = 0.5
#: the most joined speech decoded in one go (s); longer calls are cut between segments
BLOCK_SECONDS = 300.0
_MODELS: dict[tuple[str, int], Asr] = {}
_LOCK = threading.Lock()


class AsrError(CallemoError, RuntimeError):
    """Speech recognition cannot run (missing model, bad language, ...)."""


@dataclass
class Transcript:
    """What was said in one signal: the language and timed text (seconds of the given signal)."""

    language: str
    #: probability of the detected language; ``None`` when it was given or the model is English-only
    language_probability: float | None
    #: (start, end, text) of Whisper's segments
    segments: list[tuple[float, float, str]] = field(default_factory=list)
    #: (start, end, word, probability) of every recognised word (``word`` without surrounding spaces)
    words: list[tuple[float, float, str, float]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(t.strip() for _, _, t in self.segments if t.strip())


def _languages() -> tuple[str, ...]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(_LANGUAGE_CODES)


def check_language(language: str | None) -> str | None:
    """``None``/``"auto"`` -> ``None`` (detect); a Whisper language code -> itself (lower case)."""
    if language is None or str(language).strip().lower() in ("", "auto"):
        return None
    lang = str(language).strip().lower()
    if lang not in _languages():
        raise AsrError(f"unknown transcription language {language!r}: use 'auto' or a Whisper language code "
                       f"such as 'en', 'de', 'pl' ({len(_languages())} codes)")
    return lang


class Asr:
    """A loaded Whisper model (use :func:`load_asr`)."""

    def __init__(self, name: str, threads: int = 0, beam_size: int = 1):
        from faster_whisper import WhisperModel

        try:
            path = whisper_model_dir(name)
        except WhisperModelError as e:
            raise AsrError(str(e)) from None
        try:
            self.model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=int(threads),
                                      local_files_only=True)
        except Exception as e:
            raise AsrError(f"{path}: cannot load the Whisper {name} model ({e})") from None
        self.name = name
        self.beam_size = int(beam_size)

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def _language(self, language: str | None) -> str | None:
        lang = check_language(language)
        if not self.multilingual:
            if lang not in (None, "en"):
                raise AsrError(f"the Whisper {self.name} model transcribes English only, not {lang!r}: "
                               "use --asr base for other languages")
            return "en"
        return lang

    def detect_language(self, samples: np.ndarray, sample_rate: int) -> tuple[str, float | None]:
        """The language of (the first 30 s of) a signal and its probability."""
        if not self.multilingual:
            return "en", None
        x = resample(np.asarray(samples, np.float32), int(sample_rate), ASR_SR)[: 30 * ASR_SR]
        lang, prob, _ = self.model.detect_language(audio=x)
        return str(lang), float(prob)

    def transcribe(self, samples: np.ndarray, sample_rate: int, language: str | None = None) -> Transcript:
        """Transcribe a mono signal; ``language`` ``None``/``"auto"`` detects it (multilingual model)."""
        x = resample(np.asarray(samples, np.float32), int(sample_rate), ASR_SR)
        lang = self._language(language)
        if len(x) < ASR_SR // 10:
            return Transcript(lang or "en", None)
        # greedy at temperature 0 only: Whisper's fallback (re-decoding a window at rising temperatures when its
        # text compresses too well or scores low) cost 5.6x the CPU on 90 s of simulated calls (repeated
        # sentences) for no better text; each 30 s window is decoded on its own (no previous text: a
        # hallucination cannot carry on into the next window)
        segs, info = self.model.transcribe(
            x, language=lang, beam_size=self.beam_size, temperature=0.0, word_timestamps=True, vad_filter=False,
            condition_on_previous_text=False)
        out = Transcript(str(info.language), None if lang or not self.multilingual
                         else float(info.language_probability))
        for s in segs:  # a generator: decoding happens here
            out.segments.append((float(s.start), float(s.end), str(s.text)))
            first = len(out.words)
            for w in s.words or []:
                raw = str(w.word)
                if not raw.strip():
                    continue
                if len(out.words) > first and not raw[:1].isspace():  # a continuation ("john" ".smith"): one word
                    w0, _, prev, p = out.words[-1]
                    out.words[-1] = (w0, float(w.end), prev + raw.strip(), min(p, float(w.probability)))
                else:
                    out.words.append((float(w.start), float(w.end), raw.strip(), float(w.probability)))
        return out


def load_asr(name: str = "base", threads: int = 0) -> Asr:
    """The Whisper model ``name`` (``"base"`` or ``"tiny.en"``), loaded once per process.

    ``threads``: CPU threads of the decoder (0 = CTranslate2's default, which follows ``OMP_NUM_THREADS``).
    """
    if name not in ASR_MODELS:
        raise AsrError(f"unknown speech recognition model {name!r}: choose one of {list(ASR_MODELS)}")
    key = (name, int(threads))
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = Asr(name, threads=int(threads))
        return _MODELS[key]


# -- segment tables ---------------------------------------------------------------------------
def _sources(samples: np.ndarray, channels: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The signals to cut from (channels, then the mono mix) and each segment's source index."""
    a = np.asarray(samples, np.float32)
    chans = [a] if a.ndim == 1 else [a[i] for i in range(a.shape[0])]
    src = np.full(len(channels), len(chans), int)  # default: the mono mix (appended below)
    for i, ch in enumerate(channels):
        if ch is not None and not pd.isna(ch) and len(chans) > 1 and 0 <= int(ch) < len(chans):
            src[i] = int(ch)
    n = min(len(c) for c in chans)
    mono = chans[0] if len(chans) == 1 else np.mean([c[:n] for c in chans], axis=0).astype(np.float32)
    return [*chans, mono], src


def _joined(signal: np.ndarray, sr: int, starts: np.ndarray, ends: np.ndarray,
            rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The segments ``rows`` of ``signal`` joined with ``GAP`` s of silence, and where each begins in it."""
    gap = np.zeros(int(GAP * sr), np.float32)
    parts, offsets, pos = [], [], 0
    for i in rows:
        i0 = max(0, min(round(starts[i] * sr), len(signal)))
        i1 = max(i0, min(round(ends[i] * sr), len(signal)))
        offsets.append(pos / sr)
        parts += [signal[i0:i1], gap]
        pos += (i1 - i0) + len(gap)
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), np.asarray(offsets, float)


def _blocks(src: np.ndarray, order: np.ndarray, seconds: np.ndarray) -> list[tuple[int, list[int]]]:
    """The rows of each source in time order, cut into blocks of at most ``BLOCK_SECONDS`` of joined speech
    (Whisper's feature extraction holds a whole signal's spectrogram: blocks bound a long call's memory)."""
    out: list[tuple[int, list[int]]] = []
    for s in np.unique(src).tolist():
        rows: list[int] = []
        acc = 0.0
        for i in order[src[order] == s].tolist():
            if rows and acc + seconds[i] + GAP > BLOCK_SECONDS:
                out.append((int(s), rows))
                rows, acc = [], 0.0
            rows.append(int(i))
            acc += float(seconds[i]) + GAP
        if rows:
            out.append((int(s), rows))
    return out


def transcribe_segments(asr: Asr, samples: np.ndarray, sr: int, table: pd.DataFrame,
                        language: str | None = None) -> pd.DataFrame:
    """A copy of ``table`` with ``text`` (str) and ``words`` (list of ``{start, end, word}``) per segment.

    ``samples``: the call in the table's time, mono ``(n,)`` or ``(channels, n)`` at ``sr``; a segment with a
    ``channel`` value is taken from that channel, otherwise from the mono mix. ``language``: ``None``/``"auto"``
    detects it once for the call (on its first 30 s of speech), or a Whisper code. The segments of each source
    are joined (``GAP`` s of silence between them) and decoded in blocks of at most ``BLOCK_SECONDS``. The result's
    ``attrs["transcript"]`` is ``{language, language_probability, asr}``.
    """
    out = table.copy()
    n = len(out)
    texts = [""] * n
    words: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    lang = asr._language(language)
    prob: float | None = None
    if n:
        starts = out.index.get_level_values("start").to_numpy(float)
        ends = out.index.get_level_values("end").to_numpy(float)
        chans = out["channel"].to_numpy() if "channel" in out.columns else np.full(n, np.nan)
        signals, src = _sources(samples, chans)
        order = np.argsort(starts, kind="stable")
        if lang is None:  # detect once, on the call's first 30 s of speech (all sources, in time order)
            pieces: list[np.ndarray] = []
            total = 0
            for i in order:
                piece, _ = _joined(signals[src[i]], sr, starts, ends, [int(i)])
                pieces.append(piece)
                total += len(piece)
                if total >= 30 * sr:
                    break
            lang, prob = asr.detect_language(np.concatenate(pieces), sr)
        for s, rows in _blocks(src, order, ends - starts):
            joined, offsets = _joined(signals[s], sr, starts, ends, rows)
            tr = asr.transcribe(joined, sr, language=lang)
            piece_ends = offsets + (ends[rows] - starts[rows])
            for w0, w1, word, _p in tr.words:
                mid = (w0 + w1) / 2
                k = int(np.clip(np.searchsorted(offsets, mid, side="right") - 1, 0, len(rows) - 1))
                if mid > piece_ends[k] and k + 1 < len(rows) and offsets[k + 1] - mid < mid - piece_ends[k]:
                    k += 1  # in the silence between two segments: the nearer one
                i = rows[k]
                t0 = float(np.clip(starts[i] + w0 - offsets[k], starts[i], ends[i]))
                t1 = float(np.clip(starts[i] + w1 - offsets[k], t0, ends[i]))
                words[i].append({"start": round(t0, 3), "end": round(t1, 3), "word": word})
        texts = [" ".join(w["word"] for w in ws) for ws in words]
    out["text"] = pd.Series(texts, index=out.index, dtype=object)
    out["words"] = pd.Series(words, index=out.index, dtype=object)
    out.attrs["transcript"] = {"language": lang or "en", "language_probability": prob, "asr": asr.name}
    return out
