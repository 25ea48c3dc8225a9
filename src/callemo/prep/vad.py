"""Voice activity detection with silero-vad: the ONE core of file analysis and the live stream.

* :class:`SileroVAD` turns audio pushed in pieces into one speech probability per 32 ms frame.
  Audio at any rate is brought to 16 kHz with a streaming resampler (8 kHz telephone audio is
  upsampled: silero's 16 kHz model finds soft speech that its 8 kHz mode misses), and the ONNX
  model's state (h, c, 64-sample context) is carried from push to push, so a file read in blocks
  and a live stream give the same probabilities. Without onnxruntime the TorchScript model is
  used (~5x slower).
* :class:`TurnTracker` is the one hysteresis step: speech starts at a frame whose probability
  reaches ``threshold`` and ends after ``min_silence`` seconds below ``threshold - hysteresis``.
  Reported times are the detected speech: one frame before the first frame at ``threshold``
  (:data:`ONSET_LAG`), end of the last frame at ``threshold`` (not of the hangover that keeps
  the turn open, which put reported ends 0.14 s past the speech, median).
* :func:`speech_regions` (file analysis) and ``callemo.service.streaming`` (live) both run
  these two with the same :class:`VADSettings`.

Soft speech: where ``floor_margin_db`` is set, a frame at least that far above the channel's
noise floor (10th percentile of the frame levels seen so far) starts speech from the lower
``threshold - hysteresis`` probability, so soft, breathy speech that silero scores between the
two thresholds at telephone quality is not lost, while low-level noise (near the floor) is never
taken for speech.

The model is loaded once per process (:func:`get_model`); the TorchScript one keeps its state
inside, so each :class:`SileroVAD` loads its own copy.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

VAD_SR = 16000
FRAME = 512  # samples per silero frame at 16 kHz (32 ms)
CONTEXT = 64
HOP = FRAME / VAD_SR  # 0.032 s
#: frames per ONNX call (a 16 s batch)
BATCH = 512
#: seconds of audio the VAD resamples and scores at a time: its transient memory (about 8 MB per
#: minute at 16 kHz); results do not depend on it (the resampler and the model carry state)
BLOCK_S = 60.0
#: silero's probability reaches the threshold about one frame after a speech onset (measured on
#: RAVDESS utterances at 8 kHz G.711, SNR 15-23 dB: median onset +0.02..+0.05 s without this)
ONSET_LAG = HOP


class VADSettings(BaseModel):
    """Speech detection and turn segmentation, the same for file analysis and the live stream.

    ``threshold`` 0.35 (silero's own default is 0.5): at 8 kHz G.711 silero scores soft and sad
    speech low, and 0.35 is the value the call benchmark was tuned with (docs/preparation.md);
    the stream used 0.5 before and now uses the same. ``min_silence``: seconds below
    ``threshold - hysteresis`` that end a turn (``end_silence`` is accepted as its old stream
    name). ``min_speech``: shorter turns are dropped (clicks). ``pad``: seconds of context given
    to the emotion model on each side of a segment; never part of the reported times.
    ``floor_margin_db``: see the module docstring (``None`` turns it off). ``mix_threshold``: the
    ``threshold`` for a recording that mixes both speakers on one channel (a mono call, which is
    then diarized; ``None``: ``threshold``): 0.25, chosen on issue 9's leave-one-corpus-out call
    benchmark, where more of each turn's soft edges gave the diarizer longer, cleaner turns (mono
    DER 5.7 % -> 3.8 %) while on a one-speaker channel (stereo, the live stream) it only added
    false alarms (docs/preparation.md, "Third round").
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    threshold: float = Field(default=0.35, gt=0.0, lt=1.0, allow_inf_nan=False)
    hysteresis: float = Field(default=0.15, ge=0.0, lt=1.0, allow_inf_nan=False)
    min_speech: float = Field(default=0.25, ge=0.0, le=10.0, allow_inf_nan=False)
    min_silence: float = Field(default=0.25, ge=HOP, le=10.0, allow_inf_nan=False,
                               validation_alias=AliasChoices("min_silence", "end_silence"))
    pad: float = Field(default=0.05, ge=0.0, le=2.0, allow_inf_nan=False)
    floor_margin_db: float | None = Field(default=12.0, ge=0.0, le=60.0, allow_inf_nan=False)
    mix_threshold: float | None = Field(default=0.25, gt=0.0, lt=1.0, allow_inf_nan=False)

    @property
    def neg_threshold(self) -> float:
        """Probability below which a frame counts as silence."""
        return max(self.threshold - self.hysteresis, 0.01)

    def for_mix(self) -> VADSettings:
        """The settings for a channel that mixes both speakers (``threshold`` = ``mix_threshold``)."""
        if self.mix_threshold is None or self.mix_threshold == self.threshold:
            return self
        return self.model_copy(update={"threshold": self.mix_threshold})


@functools.cache
def get_model(kind: str = "auto") -> tuple[str, Any]:
    """The silero model, loaded once per process: ``("sequence", model)`` or ``("jit", model)``."""
    import torch

    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad  # importing silero sets torch threads to 1

    torch.set_num_threads(threads)
    if kind in ("auto", "sequence"):
        try:
            return "sequence", load_silero_vad(sequence=True)
        except Exception:
            if kind == "sequence":
                raise
    return "jit", load_silero_vad()


def frame_db(x: np.ndarray, sr: int) -> np.ndarray:
    """Level (dBFS) of each VAD frame (32 ms) of ``x`` at ``sr``; a last partial frame is zero-padded."""
    hop = round(HOP * sr)
    n = int(np.ceil(len(x) / hop))
    pad = np.zeros(n * hop, np.float32)
    pad[: len(x)] = x
    return 10 * np.log10(np.mean(pad.reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-10)


class SileroVAD:
    """Per-frame speech probabilities of audio pushed in pieces at ``sr`` (state carried across pushes)."""

    def __init__(self, sr: int):
        self.kind, model = get_model()
        if self.kind == "jit":  # the TorchScript model keeps its state inside: one per stream
            from silero_vad import load_silero_vad

            model = load_silero_vad()
            model.reset_states()
        self.model = model
        self.sr = int(sr)
        self._resampler = None
        if self.sr != VAD_SR:
            import soxr

            self._resampler = soxr.ResampleStream(self.sr, VAD_SR, 1, dtype="float32", quality="HQ")
        self._carry = np.zeros(0, np.float32)
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._ctx = np.zeros(CONTEXT, np.float32)
        self.frames = 0  # frames scored so far

    def push(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        """Probabilities of the frames that ``x`` completes (``last``: zero-pad the final partial frame)."""
        x = np.asarray(x, np.float32)
        y = self._resampler.resample_chunk(x, last=last) if self._resampler is not None else x
        y = np.concatenate([self._carry, y]) if len(self._carry) else y
        n = len(y) // FRAME
        if last and len(y) > n * FRAME:
            y = np.concatenate([y, np.zeros((n + 1) * FRAME - len(y), np.float32)])
            n += 1
        self._carry = y[n * FRAME:].copy()
        if n == 0:
            return np.zeros(0, np.float32)
        frames = y[: n * FRAME].reshape(n, FRAME)
        self.frames += n
        if self.kind == "jit":
            import torch

            with torch.no_grad():
                return np.array([float(self.model(torch.from_numpy(f.copy()), VAD_SR)) for f in frames], np.float32)
        out = []
        for j in range(0, n, BATCH):
            f = frames[j : j + BATCH]
            contexts = np.empty((len(f), CONTEXT), np.float32)
            contexts[0] = self._ctx
            contexts[1:] = f[:-1, -CONTEXT:]
            self._ctx = f[-1, -CONTEXT:].copy()
            vals, self._h, self._c = self.model.session.run(
                ["speech_probs", "hn", "cn"], {"input": np.concatenate([contexts, f], 1), "h": self._h, "c": self._c})
            out.append(np.asarray(vals, np.float32).reshape(-1))
        return np.concatenate(out)


class NoiseFloor:
    """Running noise floor of a channel: 10th percentile of the frame levels seen so far (a
    histogram of 0.5 dB bins, so it costs the same at any call length)."""

    def __init__(self, margin_db: float | None):
        self.margin_db = margin_db
        self.edges = np.arange(-100.0, 0.5, 0.5)
        self.counts = np.zeros(len(self.edges) + 1, np.int64)

    def loud(self, db: np.ndarray) -> np.ndarray:
        """For each frame level in ``db``: whether it is ``margin_db`` above the floor so far."""
        if self.margin_db is None or len(db) == 0:
            return np.zeros(len(db), bool)
        self.counts += np.bincount(np.searchsorted(self.edges, db), minlength=len(self.counts))
        cum = np.cumsum(self.counts)
        k = int(np.searchsorted(cum, 0.1 * cum[-1]))
        floor = self.edges[min(k, len(self.edges) - 1)]
        return np.asarray(db >= floor + self.margin_db)


class TurnTracker:
    """The hysteresis step, fed one frame probability at a time (see the module docstring).

    ``step`` returns the turn it ends, ``(start, end)`` in seconds of detected speech (turns
    shorter than ``min_speech`` are dropped), or ``None``. While a turn is open, ``start`` and
    ``last_speech`` tell where it stands (the stream cuts long turns into segments from them).
    """

    def __init__(self, settings: VADSettings | None = None):
        self.settings = settings or VADSettings()
        self.frame = 0
        self.in_speech = False
        self.start = 0.0
        self.last_speech = 0.0   # end of the last frame at threshold
        self.silence = 0         # consecutive frames below the low threshold

    def step(self, p: float, loud: bool = False, end_time: float | None = None) -> tuple[float, float] | None:
        st = self.settings
        t0 = self.frame * HOP
        t1 = (self.frame + 1) * HOP if end_time is None else min((self.frame + 1) * HOP, end_time)
        self.frame += 1
        strong = p >= st.threshold or (loud and p >= st.neg_threshold)
        if not self.in_speech:
            if strong:  # silero needs about a frame of speech to rise: the onset is a frame earlier
                self.in_speech, self.start, self.last_speech, self.silence = True, max(0.0, t0 - ONSET_LAG), t1, 0
            return None
        if strong:
            self.last_speech = t1
        if p >= st.neg_threshold:
            self.silence = 0
            return None
        self.silence += 1
        if self.silence * HOP >= st.min_silence - 1e-9:
            return self.close()
        return None

    def close(self) -> tuple[float, float] | None:
        """End the open turn (end of a stream); the turn, or ``None`` (none open, or too short)."""
        if not self.in_speech:
            return None
        self.in_speech, self.silence = False, 0
        if self.last_speech - self.start < self.settings.min_speech - 1e-9:
            return None
        return (round(self.start, 4), round(self.last_speech, 4))


class CallVAD:
    """Incremental VAD of all channels of a call: the one front end of file analysis and the stream.

    ``push(x)`` takes ``(channels, samples)`` (or 1-D for one channel) at ``sr`` and returns, per
    channel, the probabilities and "loud" flags (level ``floor_margin_db`` above the channel's
    running noise floor) of the frames it completes. With two or more channels, silero's state
    goes "cold" over a channel's long silences (the other party talking) and then misses the first
    syllables of a turn; the VAD of the mix stays warm, so a channel's probability is
    ``max(own, mix)`` on its loud frames.
    """

    def __init__(self, sr: int, n_channels: int = 1, settings: VADSettings | None = None):
        self.sr, self.n = int(sr), int(n_channels)
        self.settings = settings or VADSettings()
        self.vads = [SileroVAD(self.sr) for _ in range(self.n)]
        self.mix = SileroVAD(self.sr) if self.n > 1 else None
        # the warm-mix rule needs the loud flags even where the onset rule is off
        margin = self.settings.floor_margin_db
        self.floors = [NoiseFloor(12.0 if margin is None else margin) for _ in range(self.n)]
        self._hop = round(HOP * self.sr)
        self._rest = np.zeros((self.n, 0), np.float32)
        # frames scored by one stream but not yet by all (the resampler delays silero's frames):
        # per channel its levels, per silero stream (channels, then the mix) its probabilities
        self._levels = [np.zeros(0) for _ in range(self.n)]
        self._probs = [np.zeros(0, np.float32) for _ in range(self.n + (self.mix is not None))]

    def push(self, x: np.ndarray, last: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        x = np.atleast_2d(np.asarray(x, np.float32))
        if x.shape[0] != self.n:
            raise ValueError(f"expected {self.n} channel(s), got audio of shape {x.shape}")
        vads = self.vads + ([self.mix] if self.mix is not None else [])
        sigs = list(x) + ([x.mean(axis=0)] if self.mix is not None else [])
        self._probs = [np.concatenate([q, v.push(sig, last=last)]) for q, v, sig in zip(self._probs, vads, sigs)]
        y = np.concatenate([self._rest, x], axis=1)
        k = y.shape[1] if last else y.shape[1] // self._hop * self._hop
        self._levels = [np.concatenate([q, frame_db(y[c, :k], self.sr)]) for c, q in enumerate(self._levels)]
        self._rest = y[:, k:]
        m = min(len(a) for a in self._levels + self._probs)
        if last:  # pad whichever is short by a frame of rounding
            m = max(len(a) for a in self._probs)
            self._levels = [np.concatenate([a, np.full(max(0, m - len(a)), -100.0)]) for a in self._levels]
            self._probs = [np.concatenate([a, np.zeros(max(0, m - len(a)), np.float32)]) for a in self._probs]
        out = []
        for c in range(self.n):
            loud = self.floors[c].loud(self._levels[c][:m])
            p = self._probs[c][:m]
            if self.mix is not None:
                p = np.maximum(p, self._probs[-1][:m] * loud)
            out.append((p, loud if self.settings.floor_margin_db is not None else np.zeros(m, bool)))
        self._levels = [a[m:] for a in self._levels]
        self._probs = [a[m:] for a in self._probs]
        return out


def speech_probabilities(blocks: Iterable[np.ndarray] | np.ndarray, sr: int, *, block_s: float = BLOCK_S) -> np.ndarray:
    """Per-frame (32 ms) speech probabilities of 1-D audio given whole or as consecutive blocks."""
    return _scan(blocks, sr, block_s, 1)[0][0]


def _blocks(x: np.ndarray, sr: int, block_s: float) -> Iterator[np.ndarray]:
    step = max(1, int(block_s * sr))
    return (x[..., i : i + step] for i in range(0, x.shape[-1], step))


def _scan(blocks: Iterable[np.ndarray] | np.ndarray, sr: int, block_s: float, n_channels: int,
          settings: VADSettings | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per channel: frame probabilities and loud flags of audio given whole or in blocks."""
    if isinstance(blocks, np.ndarray):
        blocks = _blocks(blocks, sr, block_s)
    vad = CallVAD(sr, n_channels, settings)
    parts: list[list[tuple[np.ndarray, np.ndarray]]] = [vad.push(b) for b in blocks]
    parts.append(vad.push(np.zeros((n_channels, 0), np.float32), last=True))
    return [(np.concatenate([p[c][0] for p in parts]), np.concatenate([p[c][1] for p in parts]))
            for c in range(n_channels)]


def regions_from_probs(
    probs: np.ndarray,
    settings: VADSettings | None = None,
    *,
    duration: float | None = None,
    loud: np.ndarray | None = None,
) -> list[tuple[float, float]]:
    """Speech regions ``[(start, end), ...]`` (seconds) of frame probabilities, by :class:`TurnTracker`.

    ``loud``: per frame, whether it is ``settings.floor_margin_db`` above the noise floor (see
    :class:`CallVAD`); the low threshold then starts speech there.
    """
    st = settings or VADSettings()
    probs = np.asarray(probs, float)
    if duration is None:
        duration = len(probs) * HOP
    loud = np.zeros(len(probs), bool) if loud is None else np.asarray(loud, bool)
    tracker = TurnTracker(st)
    out = []
    for p, ld in zip(probs.tolist(), loud.tolist()):
        turn = tracker.step(p, ld, end_time=duration)
        if turn:
            out.append(turn)
    turn = tracker.close()
    if turn:
        out.append(turn)
    return [(s, min(e, round(float(duration), 4))) for s, e in out if s < duration]


def speech_regions(
    x: np.ndarray, sr: int, settings: VADSettings | None = None, *, block_s: float = BLOCK_S
) -> list[tuple[float, float]]:
    """Speech regions ``[(start, end), ...]`` in seconds of 1-D audio ``x`` at ``sr`` Hz."""
    x = np.asarray(x, np.float32)
    if x.ndim != 1:
        raise ValueError("speech_regions needs 1-D (mono) audio; run it per channel")
    ((probs, loud),) = _scan(x, sr, block_s, 1, settings)
    return regions_from_probs(probs, settings, duration=len(x) / sr, loud=loud)


def channel_regions(
    x: np.ndarray, sr: int, settings: VADSettings | None = None, *, block_s: float = BLOCK_S
) -> list[list[tuple[float, float]]]:
    """Speech regions of each channel of ``(channels, samples)`` audio (warm-mix rule of :class:`CallVAD`)."""
    x = np.atleast_2d(np.asarray(x, np.float32))
    return [regions_from_probs(p, settings, duration=x.shape[1] / sr, loud=ld)
            for p, ld in _scan(x, sr, block_s, x.shape[0], settings)]


def speech_regions_file(path: Any, settings: VADSettings | None = None, *, channel: int | None = None,
                        block_s: float = BLOCK_S) -> list[tuple[float, float]]:
    """Speech regions of a file read block by block (bounded memory whatever its length) with the
    one audio loader (:func:`callemo.io.iter_blocks`: conditioned, gapless MP3)."""
    from ..io import audio_info, iter_blocks

    info = audio_info(path)
    blocks = iter_blocks(path, block_s=block_s, mono=True, channel=channel)
    ((probs, loud),) = _scan(blocks, info.sample_rate, block_s, 1, settings)
    return regions_from_probs(probs, settings, duration=info.duration, loud=loud)
