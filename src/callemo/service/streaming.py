"""Real-time analysis of a live call: 16-bit PCM in, segment / alert / summary events out.

:class:`StreamAnalyzer` is the core, a plain class usable without a socket::

    sa = StreamAnalyzer(model, sr=8000, channels=["agent", "client"])
    for chunk in pcm_chunks:            # bytes of interleaved little-endian int16
        for event in sa.push(chunk):
            ...                         # {"type": "segment", ...} or {"type": "alert", ...}
    events = sa.close()                 # the last segments and {"type": "summary", ...}

How it works, per channel (one speaker per channel; a mono stream is one speaker):

* **VAD**: the file analysis's own core, :class:`callemo.prep.vad.CallVAD` (incremental silero
  at 16 kHz with its state carried from push to push, the warm-mix and noise-floor rules) and
  :class:`callemo.prep.vad.TurnTracker` (one hysteresis step), with the same settings and
  defaults (:class:`callemo.prep.vad.VADSettings`): speech starts at ``threshold``, a turn ends
  after ``min_silence`` (alias ``end_silence``) seconds below ``threshold - hysteresis``; turns
  shorter than ``min_speech`` are dropped. Reported times are the detected speech; the emotion
  model's input window has ``pad`` seconds more on each side.
* **Segments**: each finished turn, and every ``max_segment`` seconds of continuing speech, is one
  segment, judged by the model at its own sample rate. A segment shorter than the model's
  ``min_duration`` is judged on the last ``min_duration`` seconds of the same turn when the turn
  is long enough, otherwise it is reported as ``unknown`` with confidence 0 (never a fabricated
  prediction). Valence/arousal come from the model's dimensional head, or from the class
  probabilities placed on the circumplex (as in the file analysis). A model that normalises per
  speaker (``normalisation: speaker`` in its card, like the default model) gets the speaker's
  last ``context_segments`` segments with each new one, so its speaker statistics come from the
  call so far, as in the file analysis.
* **Whose emotions**: ``options.emotions`` (:class:`~callemo.analyze.options.AnalysisOptions`,
  default ``"client"``): segments of a role whose emotions are not inferred (the agent, by
  default: EU AI Act Art. 5(1)(f)) are reported with their times but ``emotion``,
  ``confidence``, ``probabilities``, ``valence`` and ``arousal`` null; the model never hears them.
* **Alerts** (:class:`AlertRules`, :func:`check_alerts`): for the watched roles (default the
  client), an exponentially smoothed valence (time constant ``smooth`` s of speech, starting from
  neutral 0) below ``negative_valence`` (alias ``valence_threshold``) raises a ``low_valence``
  alert, re-armed when it comes back above the threshold plus ``rearm``; a segment whose emotion
  is in ``emotions`` with confidence at least ``emotion_confidence`` raises an ``emotion`` alert
  (at most one per ``cooldown`` s per role).
* **Memory** is bounded: each channel keeps a ring buffer (:class:`RollingBuffer`) of the last
  ``buffer_seconds`` (default ``max_segment + min_silence + min_duration + 6`` s; ``max_segment``
  is at most 60 s) of audio; the list of segment records (a few hundred bytes per segment) is all
  that grows with the call's length.
* **Settings** are validated (:mod:`callemo.service.stream_config`): every key has a type and
  bounds, so no configuration can crash a stream or make it allocate more than a few MB.
* **Transcripts** (``options.transcribe``, off by default): the speech of each finished turn (at
  most about 30 s at a time) is transcribed (:mod:`callemo.text.asr`, the language detected on the
  first turn when ``"auto"``) and redacted (:mod:`callemo.text.redact`, unless ``redact`` is false),
  and sent as ``{"type": "transcript", "start", "end", "channel", "speaker", "role", "language",
  "text", "words"}`` after the turn's segments. Nothing transcribed is logged.
* **Summary** on close: the same summary as the file analysis (``callemo.analyze.summary``) over
  the streamed segments, plus the alert count.

All times are seconds from the start of the stream.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..analyze.options import AlertRules, AnalysisOptions, parse_options
from ..io.audio import Conditioner
from ..prep.vad import HOP, CallVAD, TurnTracker
from .stream_config import SAMPLE_RATES, StreamConfig, StreamError, StreamSettings, channel_names

__all__ = ["AlertRules", "AlertState", "RollingBuffer", "StreamAnalyzer", "StreamConfig", "StreamError",
           "StreamSettings", "check_alerts", "iter_events", "parse_config"]

class RollingBuffer:
    """The last ``capacity`` samples of a signal, addressed by absolute sample index (a ring
    buffer: a write costs its own length, whatever the capacity)."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        if self.capacity < 1:
            raise ValueError(f"a rolling buffer needs a capacity of at least 1 sample, not {capacity}")
        self.data = np.zeros(self.capacity, np.float32)
        self.total = 0  # samples written since the start

    def write(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32).reshape(-1)
        if len(x) > self.capacity:  # only the newest samples can stay
            self.total += len(x) - self.capacity
            x = x[-self.capacity:]
        n = len(x)
        if n == 0:
            return
        pos = self.total % self.capacity
        first = min(n, self.capacity - pos)
        self.data[pos:pos + first] = x[:first]
        self.data[:n - first] = x[first:]
        self.total += n

    def get(self, i0: int, i1: int) -> np.ndarray:
        """Samples ``[i0, i1)`` (absolute), clipped to what the buffer still holds."""
        i0, i1 = max(int(i0), self.total - self.capacity, 0), min(int(i1), self.total)
        if i1 <= i0:
            return np.zeros(0, np.float32)
        idx = np.arange(i0, i1) % self.capacity
        return self.data[idx]


@dataclass
class AlertState:
    """The alert state of one watched speaker."""

    smoothed: float = 0.0       # exponentially smoothed valence (from neutral 0)
    spoken: float = 0.0         # seconds of judged speech so far
    low_armed: bool = True      # a low_valence alert may fire
    last_emotion_alert: float = -math.inf


def check_alerts(rules: AlertRules, state: AlertState, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts one judged segment ``rec`` (start, end, role, speaker, emotion, confidence,
    valence) raises, updating ``state``; see the module docstring for the rules."""
    if rec["role"] not in rules.roles or rec["emotion"] == "unknown" or rec.get("valence") is None:
        return []
    out = []
    dur = rec["end"] - rec["start"]
    w = 1.0 - math.exp(-dur / rules.smooth)
    state.smoothed += w * (float(rec["valence"]) - state.smoothed)
    state.spoken += dur
    base = {"type": "alert", "role": rec["role"], "speaker": rec["speaker"], "time": rec["end"],
            "start": rec["start"], "end": rec["end"], "valence": round(state.smoothed, 4),
            "emotion": rec["emotion"], "confidence": rec["confidence"]}
    if state.low_armed and state.smoothed < rules.negative_valence:
        state.low_armed = False
        out.append(dict(base, kind="low_valence",
                        message=f"{rec['speaker']}'s valence has dropped to {state.smoothed:+.2f} "
                                f"(threshold {rules.negative_valence:+.2f})"))
    elif not state.low_armed and state.smoothed > rules.negative_valence + rules.rearm:
        state.low_armed = True
    if str(rec["emotion"]).lower() in rules.emotions and rec["confidence"] >= rules.emotion_confidence \
            and rec["end"] - state.last_emotion_alert >= rules.cooldown:
        state.last_emotion_alert = rec["end"]
        out.append(dict(base, kind="emotion",
                        message=f"{rec['speaker']} sounds {rec['emotion']} (confidence {rec['confidence']:.2f})"))
    return out


@dataclass
class _Channel:
    name: str
    tracker: TurnTracker
    buffer: RollingBuffer
    seg_start: float = 0.0     # start of the pending segment (inside the open turn)
    history: Any = None        # recent judged segments (model rate) for per-speaker normalisation
    alert: AlertState = field(default_factory=AlertState)
    speech: list[tuple[float, float, np.ndarray]] = field(default_factory=list)  # the turn's untranscribed audio
    recent: list[str] = field(default_factory=list)  # the last words said (redaction context; never sent)


class StreamAnalyzer:
    """Live emotion analysis of a call pushed as 16-bit PCM (see the module docstring).

    ``model``: an ``EmotionModel``; ``sr``: 8000 or 16000; ``channels``: 1, 2 or the roles of the
    channels in order (interleaved in the PCM; each channel is one speaker); ``options``: the
    :class:`~callemo.analyze.options.AnalysisOptions` (which roles get emotions, alert rules; VAD
    settings come from ``settings``); ``alerts``: :class:`AlertRules` or a dict overriding
    ``options.alerts``; ``settings``: a :class:`StreamSettings` or dict (VAD + segmentation).
    """

    def __init__(self, model, sr: int = 16000, channels: int | Sequence[str] = 1, *,
                 options: AnalysisOptions | None = None, alerts: AlertRules | dict | None = None,
                 settings: StreamSettings | dict | None = None, buffer_seconds: float | None = None,
                 lock: threading.Lock | None = None):
        if sr not in SAMPLE_RATES:
            raise StreamError(f"sample_rate must be 8000 or 16000, not {sr}")
        try:
            self.names = channel_names(channels)
            st = settings if isinstance(settings, StreamSettings) else StreamSettings.model_validate(settings or {})
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            raise StreamError(f"bad stream settings: {e}") from None
        self.model = model
        self.sr = int(sr)
        self.settings = st
        self.options = parse_options(options, channels=list(self.names), alerts=alerts, vad=st.vad_settings())
        self.alerts = self.options.alerts
        self.buffer_seconds = float(buffer_seconds
                                    or (st.max_segment + st.min_silence + float(model.min_duration) + 6.0))
        cap = int(self.buffer_seconds * self.sr)
        vad = st.vad_settings()
        self.vad = CallVAD(self.sr, len(self.names), vad)  # the file analysis's VAD front end
        self._conditioner = Conditioner(self.sr, len(self.names))  # DC-removing high-pass, as files get
        self.channels = [_Channel(n, TurnTracker(vad), RollingBuffer(cap),
                                  history=collections.deque(maxlen=max(1, st.context_segments)))
                         for n in self.names]
        self.speaker_context = bool(model.per_speaker_normalisation) and st.context_segments > 0
        self.labels = [str(x) for x in model.labels]
        self.samples = 0           # samples per channel received
        self.records: list[dict[str, Any]] = []
        self.n_alerts = 0
        self.closed = False
        self._rest = b""           # bytes of an incomplete sample frame
        self._lock = lock          # serialises model calls when a model is shared
        self._language: str | None = None  # the stream's transcription language, once known

    @classmethod
    def from_config(cls, model, config: StreamConfig, **kw: Any) -> StreamAnalyzer:
        """The analyzer of a validated stream configuration."""
        return cls(model, config.sample_rate, config.channels, options=config.options(), settings=config.settings, **kw)

    # -- input ------------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        """Seconds of audio received."""
        return self.samples / self.sr

    def _decode(self, pcm) -> np.ndarray:
        nch = len(self.names)
        if isinstance(pcm, (bytes, bytearray, memoryview)):
            raw = self._rest + bytes(pcm)
            step = 2 * nch
            cut = len(raw) - len(raw) % step
            self._rest = raw[cut:]
            x = np.frombuffer(raw[:cut], dtype="<i2").astype(np.float32) / 32768.0
            return x.reshape(-1, nch)
        a = np.asarray(pcm)
        if a.dtype == np.int16:
            a = a.astype(np.float32) / 32768.0
        a = a.astype(np.float32)
        if a.ndim == 1:
            if len(a) % nch:
                raise StreamError(f"{len(a)} samples do not divide into {nch} interleaved channels")
            a = a.reshape(-1, nch)
        if a.ndim != 2 or a.shape[1] != nch:
            raise StreamError(f"expected audio of shape (n, {nch}), got {a.shape}")
        return a

    def push(self, pcm) -> list[dict[str, Any]]:
        """Feed audio (bytes of interleaved int16, or an int16/float array ``(n,)``/``(n, ch)``);
        return the events it completes."""
        if self.closed:
            raise StreamError("the stream is closed")
        x = self._decode(pcm)
        if len(x) == 0:
            return []
        events: list[dict[str, Any]] = []
        self.samples += len(x)
        x = self._conditioner(x)
        for k, ch in enumerate(self.channels):
            ch.buffer.write(np.ascontiguousarray(x[:, k]))
        for ch, (probs, loud) in zip(self.channels, self.vad.push(np.ascontiguousarray(x.T))):
            events.extend(self._frames(ch, probs, loud))
        return self._order(events)

    def close(self) -> list[dict[str, Any]]:
        """End of the call: flush the pending speech and return the last events and the summary."""
        if self.closed:
            return []
        if self._rest:
            self._rest = b""
        events: list[dict[str, Any]] = []
        last = self.vad.push(np.zeros((len(self.channels), 0), np.float32), last=True)
        for ch, (probs, loud) in zip(self.channels, last):
            events.extend(self._frames(ch, probs, loud, end_time=self.time))
            if ch.tracker.in_speech:
                events.extend(self._end_turn(ch, ch.tracker.start, min(ch.tracker.last_speech, self.time)))
                ch.tracker.close()
        self.closed = True
        events = self._order(events)
        events.append(self.summary())
        return events

    @staticmethod
    def _order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rank = {"segment": 0, "alert": 1, "transcript": 2}
        return sorted(events, key=lambda e: (e.get("end", e.get("time", 0.0)), rank.get(e["type"], 1)))

    # -- turns and segments (the file analysis's hysteresis step, prep.vad.TurnTracker) -------------
    def _frames(self, ch: _Channel, probs: np.ndarray, loud: np.ndarray,
                end_time: float | None = None) -> list[dict[str, Any]]:
        st = self.settings
        tr = ch.tracker
        out: list[dict[str, Any]] = []
        for p, ld in zip(probs.tolist(), loud.tolist()):
            was, paused, last_before, turn_start = tr.in_speech, tr.silence > 0, tr.last_speech, tr.start
            tr.step(p, ld, end_time=end_time)
            if not was:
                ch.seg_start = tr.start
                continue
            if not tr.in_speech:  # the turn ended
                out.extend(self._end_turn(ch, turn_start, last_before))
                continue
            t1 = tr.frame * HOP
            if paused and tr.silence == 0 and t1 - ch.seg_start > st.max_segment and last_before > ch.seg_start:
                # speech resumes after a pause, past the segment length: cut at the pause
                out.extend(self._segment(ch, ch.seg_start, last_before, turn_start=turn_start))
                ch.seg_start = last_before
            if tr.last_speech - ch.seg_start >= st.max_segment:  # long turn: report it as it goes
                out.extend(self._segment(ch, ch.seg_start, tr.last_speech, turn_start=turn_start))
                ch.seg_start = tr.last_speech
        return out

    def _end_turn(self, ch: _Channel, turn_start: float, end: float) -> list[dict[str, Any]]:
        continued = ch.seg_start > turn_start
        if end - ch.seg_start <= 1e-6:
            return []
        if not continued and end - turn_start < self.settings.min_speech - 1e-9:
            ch.speech.clear()
            return []  # a click, not a turn
        events = self._segment(ch, ch.seg_start, end, turn_start=turn_start)
        return events + self._transcript(ch)

    # -- transcripts ----------------------------------------------------------------------------------
    #: a turn's speech is transcribed at the latest when this much of it is waiting (s)
    TRANSCRIBE_SECONDS = 28.0
    #: words of the channel's previous turns the redaction reads with a new turn
    CONTEXT_WORDS = 12

    def _transcript(self, ch: _Channel) -> list[dict[str, Any]]:
        """The ``transcript`` event of the channel's waiting speech (none when not transcribing)."""
        if self.options.transcribe is None or not ch.speech:
            ch.speech.clear()
            return []
        from ..text.asr import load_asr
        from ..text.redact import pii_word_ranges, tag_words

        pieces = list(ch.speech)
        ch.speech.clear()
        start, end = pieces[0][0], pieces[-1][1]
        audio = np.concatenate([x for _, _, x in pieces])
        asr = load_asr(self.options.asr_model)
        lang = self._language or (None if self.options.transcribe == "auto" else self.options.transcribe)

        def run():
            return asr.transcribe(audio, self.sr, language=lang)

        if self._lock is not None:
            with self._lock:
                tr = run()
        else:
            tr = run()
        if self._language is None and len(audio) >= 3 * self.sr:  # detected on a long enough turn, then kept
            self._language = tr.language
        # the pieces were joined without their pauses: each word goes back to its piece's time
        starts = np.array([s for s, _, _ in pieces])
        offsets = np.cumsum([0] + [len(x) for _, _, x in pieces[:-1]]) / self.sr
        words = []
        for w0, w1, w, _ in tr.words:
            k = max(0, int(np.searchsorted(offsets, (w0 + w1) / 2, side="right")) - 1)
            words.append({"start": round(float(starts[k] + w0 - offsets[k]), 3),
                          "end": round(float(starts[k] + w1 - offsets[k]), 3), "word": w})
        if self.options.redact:
            # read with the channel's last words (kept in memory only), so "call me on 0 2 0" in one turn still
            # makes the next turn's digits a phone number, and a number split between two turns is found
            said = [str(w["word"]) for w in words]
            off = len(ch.recent)
            ranges = [(max(i, off) - off, j - off, kind)
                      for i, j, kind in pii_word_ranges([*ch.recent, *said], names=self.options.redact_names)
                      if j >= off]
            ch.recent = [*ch.recent, *said][-self.CONTEXT_WORDS:]
            words, _ = tag_words(words, ranges)
        # the turn's segment records get their words' text too (a stored live call keeps it, redacted)
        recs = [r for r in self.records if r["channel"] == self.channels.index(ch) and r["end"] > start - 1e-6
                and r["start"] < end + 1e-6]
        for r in recs:
            r["text"] = " ".join(str(w["word"]) for w in words
                                 if r["start"] <= (w["start"] + w["end"]) / 2 < r["end"] or
                                 (r is recs[-1] and (w["start"] + w["end"]) / 2 >= r["end"]) or
                                 (r is recs[0] and (w["start"] + w["end"]) / 2 < r["start"]))
        return [{"type": "transcript", "start": round(start, 3), "end": round(end, 3),
                 "channel": self.channels.index(ch), "speaker": ch.name, "role": ch.name, "language": tr.language,
                 "text": " ".join(str(w["word"]) for w in words), "words": words}]

    # -- prediction ---------------------------------------------------------------------------------
    def _segment(self, ch: _Channel, start: float, end: float, *, turn_start: float) -> list[dict[str, Any]]:
        from ..io import resample

        min_dur = float(self.model.min_duration)
        a0 = start
        if end - start < min_dur and end - turn_start >= min_dur:
            a0 = end - min_dur  # judge a short tail on the last min_duration s of its own turn
        # the model's input window has the VAD's padding on each side; the reported times do not
        pad = self.settings.pad
        sig = ch.buffer.get(round(max(0.0, a0 - pad) * self.sr), round((end + pad) * self.sr))
        msr = int(self.model.sample_rate)
        if msr != self.sr and len(sig):
            sig = resample(sig, self.sr, msr)
        rec: dict[str, Any] = {"type": "segment", "start": round(start, 3), "end": round(end, 3),
                               "channel": self.channels.index(ch), "speaker": ch.name, "role": ch.name}
        if not self.options.infers_emotions(ch.name):
            # emotions="client": the agent's turns are reported, the model never hears them
            rec.update(emotion=None, confidence=None, valence=None, arousal=None, probabilities=None)
        elif len(sig) < max(1, int(min_dur * msr) - 1):
            rec.update(emotion="unknown", confidence=0.0, valence=None, arousal=None,
                       probabilities=dict.fromkeys(self.labels))
        else:
            context = list(ch.history) if self.speaker_context else []
            p, dims = self._predict([*context, sig], ch.name)
            if self.speaker_context:
                ch.history.append(sig)
            i = int(np.argmax(p))
            unsure = float(p[i]) < float(self.model.unknown_below)  # top probability below the threshold
            conf = float(self.model.confidence(p[None, :])[0])  # as the file analysis reports it
            rec.update(emotion="unknown" if unsure else self.labels[i], confidence=round(conf, 4),
                       valence=round(float(dims[0]), 4), arousal=round(float(dims[1]), 4),
                       probabilities={lab: round(float(v), 4) for lab, v in zip(self.labels, p)})
        self.records.append(rec)
        events = [dict(rec), *self._alerts(ch, rec)]  # a copy: the record may get its text later
        if self.options.transcribe is not None:
            ch.speech.append((start, end, ch.buffer.get(round(start * self.sr), round(end * self.sr))))
            if end - ch.speech[0][0] >= self.TRANSCRIBE_SECONDS:  # a long turn: its text so far
                events += self._transcript(ch)
        return events

    def _predict(self, sigs: list[np.ndarray], speaker: str) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and (valence, arousal) of the LAST signal; the others are the speaker's
        earlier segments, given as context to models that normalise per speaker."""
        from ..analyze.pipeline import circumplex_dimensions

        spk = [speaker] * len(sigs)

        def run():
            p = np.asarray(self.model.predict_proba(sigs, spk), dtype=float).reshape(len(sigs), -1)[-1]
            d = self.model.predict_dimensions(sigs, spk)
            if d is not None:
                d = np.clip(np.asarray(d, dtype=float).reshape(len(sigs), -1)[-1, :2], -1, 1)
            else:
                d = circumplex_dimensions(p[None, :], self.labels)[0]
            return p, d

        if self._lock is not None:
            with self._lock:
                return run()
        return run()

    # -- alerts -------------------------------------------------------------------------------------
    def _alerts(self, ch: _Channel, rec: dict[str, Any]) -> list[dict[str, Any]]:
        out = check_alerts(self.alerts, ch.alert, rec)
        self.n_alerts += len(out)
        return out

    # -- summary ------------------------------------------------------------------------------------
    def table(self, file: str = "stream"):
        """The streamed segments as a segment table with predictions (as the file analysis makes)."""
        from ..segments import add_probabilities, empty_table, to_table

        recs = [dict(file=file, start=r["start"], end=r["end"], speaker=r["speaker"], role=r["role"],
                     channel=r["channel"]) for r in self.records]
        table = to_table(recs) if recs else empty_table(["speaker", "role", "channel"])
        proba = np.array([[np.nan if not r["probabilities"] or r["probabilities"][lab] is None
                           else r["probabilities"][lab] for lab in self.labels] for r in self.records],
                         dtype=float).reshape(len(recs), len(self.labels))
        unknown = np.array([r["emotion"] in ("unknown", None) for r in self.records], bool)
        skipped = np.array([r["emotion"] is None for r in self.records], bool)
        # to_table sorts by (file, start, end): keep records in the same order
        order = (np.lexsort(([r["end"] for r in self.records], [r["start"] for r in self.records])) if recs
                 else np.zeros(0, int))
        table = add_probabilities(table, np.nan_to_num(proba[order], nan=0.0), self.labels,
                                  unknown_mask=unknown[order] if recs else None)
        if recs and skipped.any():  # emotions not inferred: no prediction at all, as in the file analysis
            table["emotion"] = table["emotion"].astype(object)
            table.loc[skipped[order], "emotion"] = np.nan
            table.loc[skipped[order], "confidence"] = np.nan
        table["valence"] = [np.nan if self.records[i]["valence"] is None else self.records[i]["valence"] for i in order]
        table["arousal"] = [np.nan if self.records[i]["arousal"] is None else self.records[i]["arousal"] for i in order]
        return table

    def summary(self) -> dict[str, Any]:
        """``{"type": "summary", "duration", "n_segments", "n_alerts", "summary": {...}}``."""
        from ..analyze.summary import summarize
        from ..utils import plain

        s = summarize(self.table(), self.time, labels=self.labels, rules=self.options.review,
                      emotions=self.options.emotions)
        return plain({"type": "summary", "duration": round(self.time, 3), "n_segments": len(self.records),
                       "n_alerts": self.n_alerts, "channels": self.names, "summary": s.model_dump(mode="json")})


def parse_config(cfg: Any) -> StreamConfig:
    """A stream's first message (a dict) as a validated :class:`StreamConfig`, or
    :class:`StreamError` naming the problem."""
    return StreamConfig.from_dict(cfg)


def iter_events(analyzer: StreamAnalyzer, chunks: Iterable) -> Iterable[dict[str, Any]]:
    """Push every chunk, then close: all events of a stream in order (handy for files and tests)."""
    for c in chunks:
        yield from analyzer.push(c)
    yield from analyzer.close()
