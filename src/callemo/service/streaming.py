"""Real-time analysis of a live call: 16-bit PCM in, segment / alert / summary events out.

:class:`StreamAnalyzer` is the core, a plain class usable without a socket::

    sa = StreamAnalyzer(model, sr=8000, channels=["agent", "client"])
    for chunk in pcm_chunks:            # bytes of interleaved little-endian int16
        for event in sa.push(chunk):
            ...                         # {"type": "segment", ...} or {"type": "alert", ...}
    events = sa.close()                 # the last segments and {"type": "summary", ...}

How it works, per channel (one speaker per channel; a mono stream is one speaker):

* **VAD**, incremental silero-vad: the audio is resampled to 16 kHz with a streaming resampler
  and each 32 ms frame gets a speech probability from the same silero model that
  ``callemo.prep.vad`` uses, with the model state carried from push to push. Hysteresis: speech
  starts at ``threshold``, and a turn ends after ``end_silence`` seconds below
  ``threshold - 0.15``; turns shorter than ``min_speech`` are dropped.
* **Segments**: each finished turn, and every ``max_segment`` seconds of continuing speech, is one
  segment, judged by the model at its own sample rate. A segment shorter than the model's
  ``min_duration`` is judged on the last ``min_duration`` seconds of the same turn when the turn
  is long enough, otherwise it is reported as ``unknown`` with confidence 0 (never a fabricated
  prediction). Valence/arousal come from the model's dimensional head, or from the class
  probabilities placed on the circumplex (as in the file analysis). A model that normalises per
  speaker (``normalisation: speaker`` in its card, like the default model) gets the speaker's
  last ``context_segments`` segments with each new one, so its speaker statistics come from the
  call so far, as in the file analysis.
* **Alerts** (:class:`AlertRules`): for the watched roles (default the client), an
  exponentially smoothed valence (time constant ``smooth`` s of speech, starting from neutral 0)
  below ``valence_threshold`` raises a ``low_valence`` alert, re-armed when it comes back above
  the threshold plus ``rearm``; a segment whose emotion is in ``emotions`` with confidence at
  least ``emotion_confidence`` raises an ``emotion`` alert (at most one per ``cooldown`` s per role).
* **Memory** is bounded: each channel keeps a rolling buffer of the last ``buffer_seconds``
  (default ``max_segment + end_silence + min_duration + 6`` s) of audio; the list of segment records (a few hundred bytes per
  segment) is all that grows with the call's length.
* **Summary** on close: the same summary as the file analysis (``callemo.analyze.summary``) over
  the streamed segments, plus the alert count.

All times are seconds from the start of the stream.
"""

from __future__ import annotations

import collections
import math
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import CallemoError

VAD_SR = 16000
FRAME = 512
CONTEXT = 64
HOP = FRAME / VAD_SR  # 32 ms
SAMPLE_RATES = (8000, 16000)


class StreamError(CallemoError, ValueError):
    """A bad stream configuration or bad audio frame (the message names the problem)."""


def _known_settings(cls, d: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """A copy of ``d``; :class:`StreamError` if it names a setting that is no field of ``cls``."""
    d = dict(d or {})
    known = {f.name for f in fields(cls)}
    bad = sorted(set(d) - known)
    if bad:
        raise StreamError(f"unknown {what} settings {bad}; known: {sorted(known)}")
    return d


@dataclass
class AlertRules:
    """When a live call raises an alert (all configurable through the stream's config)."""

    #: roles watched for alerts
    roles: tuple[str, ...] = ("client",)
    #: smoothed valence below this -> ``low_valence`` alert
    valence_threshold: float = -0.3
    #: time constant (seconds of speech) of the exponential smoothing of valence
    smooth: float = 10.0
    #: after a ``low_valence`` alert, valence must rise above threshold + rearm before the next one
    rearm: float = 0.1
    #: emotions that raise an ``emotion`` alert when predicted confidently
    emotions: tuple[str, ...] = ("angry",)
    #: ...with at least this confidence
    emotion_confidence: float = 0.6
    #: seconds between two ``emotion`` alerts of the same role
    cooldown: float = 20.0

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "AlertRules":
        d = _known_settings(cls, d, "alert")
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k in ("roles", "emotions"):
                if isinstance(v, str):
                    v = [v]
                if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
                    raise StreamError(f"alerts.{k} must be a list of names, not {v!r}")
                kw[k] = tuple(v)
            else:
                try:
                    kw[k] = float(v)
                except (TypeError, ValueError):
                    raise StreamError(f"alerts.{k} must be a number, not {v!r}") from None
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["roles"], d["emotions"] = list(self.roles), list(self.emotions)
        return d


# -- incremental silero ------------------------------------------------------------------------
class SileroStream:
    """Per-frame speech probabilities of audio pushed in pieces (state carried across pushes)."""

    def __init__(self, sr: int):
        from ..prep import vad as _vad

        self.kind, model = _vad.get_model()
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
        x = np.asarray(x, np.float32)
        y = self._resampler.resample_chunk(x, last=last) if self._resampler is not None else x
        y = np.concatenate([self._carry, y]) if len(self._carry) else y
        n = len(y) // FRAME
        if last and len(y) > n * FRAME:  # zero-pad the final partial frame
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
        contexts = np.empty((n, CONTEXT), np.float32)
        contexts[0] = self._ctx
        contexts[1:] = frames[:-1, -CONTEXT:]
        self._ctx = frames[-1, -CONTEXT:].copy()
        vals, self._h, self._c = self.model.session.run(
            ["speech_probs", "hn", "cn"], {"input": np.concatenate([contexts, frames], 1), "h": self._h, "c": self._c})
        return np.asarray(vals, np.float32).reshape(-1)


class RollingBuffer:
    """The last ``capacity`` samples of a signal, addressed by absolute sample index."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.data = np.zeros(self.capacity, np.float32)
        self.total = 0  # samples written since the start

    def write(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        n = len(x)
        if n == 0:
            return
        if n >= self.capacity:
            self.data[:] = x[-self.capacity:]
        else:
            self.data[:-n] = self.data[n:].copy()
            self.data[-n:] = x
        self.total += n

    def get(self, i0: int, i1: int) -> np.ndarray:
        """Samples ``[i0, i1)`` (absolute), clipped to what the buffer still holds."""
        first = self.total - self.capacity
        i0, i1 = max(int(i0), first, 0), min(int(i1), self.total)
        if i1 <= i0:
            return np.zeros(0, np.float32)
        return self.data[i0 - first: i1 - first].copy()


@dataclass
class _Channel:
    name: str
    vad: Any
    buffer: RollingBuffer
    frame: int = 0             # frames processed
    in_speech: bool = False
    turn_start: float = 0.0    # seconds
    seg_start: float = 0.0     # start of the pending segment (inside the turn)
    last_speech: float = 0.0   # end of the last speech frame
    silence: int = 0           # frames below the low threshold
    history: Any = None        # recent judged segments (model rate) for per-speaker normalisation
    # alert state
    smoothed: float = 0.0
    spoken: float = 0.0
    low_armed: bool = True
    last_emotion_alert: float = -math.inf


@dataclass
class StreamSettings:
    """VAD and segmentation settings of a stream."""

    threshold: float = 0.5
    end_silence: float = 0.3
    min_speech: float = 0.25
    max_segment: float = 4.0
    pad: float = 0.05
    #: previous segments of the same speaker given with each new one to models that normalise
    #: per speaker (so the speaker statistics come from the call so far, as in the file analysis)
    context_segments: int = 8

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "StreamSettings":
        d = _known_settings(cls, d, "stream")
        try:
            s = cls(**{k: (int(v) if k == "context_segments" else float(v)) for k, v in d.items()})
        except (TypeError, ValueError) as e:
            raise StreamError(f"stream settings must be numbers ({e})") from None
        if not 0 <= s.context_segments <= 64:
            raise StreamError("context_segments must be between 0 and 64")
        if not 0 < s.threshold < 1:
            raise StreamError("threshold must be between 0 and 1")
        if s.max_segment < 1.0:
            raise StreamError("max_segment must be at least 1 s")
        return s


def channel_names(channels: int | Sequence[str] | None) -> list[str]:
    """``2`` -> ``["agent", "client"]``, ``1`` -> ``["client"]``, a list of names -> itself."""
    if channels is None:
        channels = 1
    if isinstance(channels, (int, np.integer)) and not isinstance(channels, bool):
        if channels == 1:
            return ["client"]
        if channels == 2:
            return ["agent", "client"]
        raise StreamError(f"channels must be 1 or 2, not {channels}")
    if isinstance(channels, str):
        channels = [c.strip() for c in channels.split(",") if c.strip()]
    names = [str(c) for c in channels]
    if len(names) not in (1, 2) or len(set(names)) != len(names) or not all(names):
        raise StreamError(f"channels must name 1 or 2 distinct channels, e.g. ['agent', 'client'], not {channels!r}")
    return names


class StreamAnalyzer:
    """Live emotion analysis of a call pushed as 16-bit PCM (see the module docstring).

    ``model``: an ``EmotionModel``; ``sr``: 8000 or 16000; ``channels``: 1, 2 or channel names
    (interleaved in the PCM; each name is the speaker and its role); ``alerts``: an
    :class:`AlertRules` or dict; ``settings``: a :class:`StreamSettings` or dict.
    """

    def __init__(self, model, sr: int = 16000, channels: int | Sequence[str] = 1, *,
                 alerts: AlertRules | dict | None = None, settings: StreamSettings | dict | None = None,
                 buffer_seconds: float | None = None, lock: threading.Lock | None = None):
        if int(sr) not in SAMPLE_RATES:
            raise StreamError(f"sample_rate must be one of {SAMPLE_RATES}, not {sr}")
        self.model = model
        self.sr = int(sr)
        self.names = channel_names(channels)
        self.alerts = alerts if isinstance(alerts, AlertRules) else AlertRules.from_dict(alerts)
        self.settings = settings if isinstance(settings, StreamSettings) else StreamSettings.from_dict(settings)
        st = self.settings
        self.buffer_seconds = float(buffer_seconds or (st.max_segment + st.end_silence + float(model.min_duration) + 6.0))
        cap = int(self.buffer_seconds * self.sr)
        self.channels = [_Channel(n, SileroStream(self.sr), RollingBuffer(cap),
                                  history=collections.deque(maxlen=max(1, self.settings.context_segments)))
                         for n in self.names]
        card = getattr(model, "card", {}) or {}
        norm = card.get("normalisation", (card.get("config") or {}).get("normalisation", ""))
        self.speaker_context = str(norm).lower() == "speaker" and self.settings.context_segments > 0
        self.labels = [str(x) for x in model.labels]
        self.samples = 0           # samples per channel received
        self.records: list[dict[str, Any]] = []
        self.n_alerts = 0
        self.closed = False
        self._rest = b""           # bytes of an incomplete sample frame
        self._lock = lock          # serialises model calls when a model is shared

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
        for k, ch in enumerate(self.channels):
            sig = np.ascontiguousarray(x[:, k])
            ch.buffer.write(sig)
            probs = ch.vad.push(sig)
            events.extend(self._frames(ch, probs))
        return self._order(events)

    def close(self) -> list[dict[str, Any]]:
        """End of the call: flush the pending speech and return the last events and the summary."""
        if self.closed:
            return []
        if self._rest:
            self._rest = b""
        events: list[dict[str, Any]] = []
        for ch in self.channels:
            probs = ch.vad.push(np.zeros(0, np.float32), last=True)
            events.extend(self._frames(ch, probs, end_time=self.time))
            if ch.in_speech:
                events.extend(self._end_turn(ch, min(ch.last_speech + self.settings.pad, self.time)))
        self.closed = True
        events = self._order(events)
        events.append(self.summary())
        return events

    @staticmethod
    def _order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(events, key=lambda e: (e.get("end", e.get("time", 0.0)), e["type"] != "segment"))

    # -- VAD state machine --------------------------------------------------------------------------
    def _frames(self, ch: _Channel, probs: np.ndarray, end_time: float | None = None) -> list[dict[str, Any]]:
        st = self.settings
        neg = max(st.threshold - 0.15, 0.01)
        out: list[dict[str, Any]] = []
        limit = end_time if end_time is not None else math.inf
        for p in probs:
            t0 = ch.frame * HOP
            t1 = min((ch.frame + 1) * HOP, limit)
            ch.frame += 1
            if not ch.in_speech:
                if p >= st.threshold:
                    ch.in_speech = True
                    ch.turn_start = ch.seg_start = max(0.0, t0 - st.pad)
                    ch.last_speech = t1
                    ch.silence = 0
                continue
            if p >= neg:
                if ch.silence and t1 - ch.seg_start > st.max_segment and ch.last_speech > ch.seg_start:
                    # speech resumes after a pause, past the segment length: cut at the pause
                    out.extend(self._segment(ch, ch.seg_start, ch.last_speech, turn_start=ch.turn_start))
                    ch.seg_start = ch.last_speech
                ch.silence = 0
                ch.last_speech = t1
            else:
                ch.silence += 1
                if ch.silence * HOP >= st.end_silence:
                    out.extend(self._end_turn(ch, ch.last_speech + st.pad))
                    continue
            if ch.last_speech - ch.seg_start >= st.max_segment:  # long turn: report it as it goes
                out.extend(self._segment(ch, ch.seg_start, ch.last_speech, turn_start=ch.turn_start))
                ch.seg_start = ch.last_speech
        return out

    def _end_turn(self, ch: _Channel, end: float) -> list[dict[str, Any]]:
        ch.in_speech = False
        ch.silence = 0
        end = min(end, self.time if self.samples else end)
        continued = ch.seg_start > ch.turn_start
        if end - ch.seg_start <= 1e-6:
            return []
        if not continued and end - ch.turn_start < self.settings.min_speech:
            return []  # a click, not a turn
        return self._segment(ch, ch.seg_start, end, turn_start=ch.turn_start)

    # -- prediction ---------------------------------------------------------------------------------
    def _segment(self, ch: _Channel, start: float, end: float, *, turn_start: float) -> list[dict[str, Any]]:
        from ..io import resample

        min_dur = float(self.model.min_duration)
        a0 = start
        if end - start < min_dur and end - turn_start >= min_dur:
            a0 = end - min_dur  # judge a short tail on the last min_duration s of its own turn
        sig = ch.buffer.get(int(round(a0 * self.sr)), int(round(end * self.sr)))
        msr = int(self.model.sample_rate)
        if msr != self.sr and len(sig):
            sig = resample(sig, self.sr, msr)
        rec: dict[str, Any] = {"type": "segment", "start": round(start, 3), "end": round(end, 3),
                               "channel": self.channels.index(ch), "speaker": ch.name, "role": ch.name}
        if len(sig) < max(1, int(min_dur * msr) - 1):
            rec.update(emotion="unknown", confidence=0.0, valence=None, arousal=None,
                       probabilities={lab: None for lab in self.labels})
        else:
            context = list(ch.history) if self.speaker_context else []
            p, dims = self._predict(context + [sig], ch.name)
            if self.speaker_context:
                ch.history.append(sig)
            i = int(np.argmax(p))
            rec.update(emotion=self.labels[i], confidence=round(float(p[i]), 4),
                       valence=round(float(dims[0]), 4), arousal=round(float(dims[1]), 4),
                       probabilities={lab: round(float(v), 4) for lab, v in zip(self.labels, p)})
        self.records.append(rec)
        return [rec] + self._alerts(ch, rec)

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
        r = self.alerts
        if ch.name not in r.roles or rec["emotion"] == "unknown" or rec["valence"] is None:
            return []
        out = []
        dur = rec["end"] - rec["start"]
        w = 1.0 - math.exp(-dur / max(r.smooth, 1e-6))
        ch.smoothed += w * (float(rec["valence"]) - ch.smoothed)
        ch.spoken += dur
        base = {"type": "alert", "role": ch.name, "speaker": ch.name, "time": rec["end"], "start": rec["start"],
                "end": rec["end"], "valence": round(ch.smoothed, 4), "emotion": rec["emotion"],
                "confidence": rec["confidence"]}
        if ch.low_armed and ch.smoothed < r.valence_threshold:
            ch.low_armed = False
            out.append(dict(base, kind="low_valence",
                            message=f"{ch.name}'s valence has dropped to {ch.smoothed:+.2f} "
                                    f"(threshold {r.valence_threshold:+.2f})"))
        elif not ch.low_armed and ch.smoothed > r.valence_threshold + r.rearm:
            ch.low_armed = True
        if rec["emotion"] in r.emotions and rec["confidence"] >= r.emotion_confidence \
                and rec["end"] - ch.last_emotion_alert >= r.cooldown:
            ch.last_emotion_alert = rec["end"]
            out.append(dict(base, kind="emotion",
                            message=f"{ch.name} sounds {rec['emotion']} (confidence {rec['confidence']:.2f})"))
        self.n_alerts += len(out)
        return out

    # -- summary ------------------------------------------------------------------------------------
    def table(self, file: str = "stream"):
        """The streamed segments as a segment table with predictions (as the file analysis makes)."""
        from ..segments import add_probabilities, empty_table, to_table

        recs = [dict(file=file, start=r["start"], end=r["end"], speaker=r["speaker"], role=r["role"],
                     channel=r["channel"]) for r in self.records]
        table = to_table(recs) if recs else empty_table(["speaker", "role", "channel"])
        proba = np.array([[np.nan if r["probabilities"][lab] is None else r["probabilities"][lab]
                           for lab in self.labels] for r in self.records], dtype=float).reshape(len(recs), len(self.labels))
        unknown = np.array([r["emotion"] == "unknown" for r in self.records], bool)
        # to_table sorts by (file, start, end): keep records in the same order
        order = np.lexsort(([r["end"] for r in self.records], [r["start"] for r in self.records])) if recs else []
        table = add_probabilities(table, np.nan_to_num(proba[order], nan=0.0), self.labels,
                                  unknown_mask=unknown[order] if recs else None)
        table["valence"] = [np.nan if self.records[i]["valence"] is None else self.records[i]["valence"] for i in order]
        table["arousal"] = [np.nan if self.records[i]["arousal"] is None else self.records[i]["arousal"] for i in order]
        return table

    def summary(self) -> dict[str, Any]:
        """``{"type": "summary", "duration", "n_segments", "n_alerts", "summary": {...}}``."""
        from ..analyze.pipeline import _clean
        from ..analyze.summary import summarize

        s = summarize(self.table(), self.time, labels=self.labels)
        return _clean({"type": "summary", "duration": round(self.time, 3), "n_segments": len(self.records),
                       "n_alerts": self.n_alerts, "channels": self.names, "summary": s})


def parse_config(cfg: Any) -> dict[str, Any]:
    """Check a stream's first message; return ``{"sample_rate", "channels", "alerts", "settings",
    "store", "name"}`` or raise :class:`StreamError` naming the problem."""
    if not isinstance(cfg, dict):
        raise StreamError("the first message must be a JSON object, e.g. "
                          '{"sample_rate": 16000, "channels": ["agent", "client"]}')
    known = {"type", "sample_rate", "channels", "alerts", "settings", "store", "name"}
    bad = sorted(set(cfg) - known)
    if bad:
        raise StreamError(f"unknown config keys {bad}; known: {sorted(known)}")
    sr = cfg.get("sample_rate", 16000)
    try:
        sr = int(sr)
    except (TypeError, ValueError):
        raise StreamError(f"sample_rate must be 8000 or 16000, not {sr!r}") from None
    if sr not in SAMPLE_RATES:
        raise StreamError(f"sample_rate must be 8000 or 16000, not {sr}")
    names = channel_names(cfg.get("channels", 1))
    alerts = AlertRules.from_dict(cfg.get("alerts"))
    settings = StreamSettings.from_dict(cfg.get("settings"))
    return {"sample_rate": sr, "channels": names, "alerts": alerts, "settings": settings,
            "store": bool(cfg.get("store", False)), "name": str(cfg.get("name") or "live call")}


def iter_events(analyzer: StreamAnalyzer, chunks: Iterable) -> Iterable[dict[str, Any]]:
    """Push every chunk, then close: all events of a stream in order (handy for files and tests)."""
    for c in chunks:
        yield from analyzer.push(c)
    yield from analyzer.close()
