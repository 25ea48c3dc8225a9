"""One call in, one emotional timeline out.

``analyze_file`` = ``callemo.prep.call.prepare_call`` (VAD, silence compression with a time map
back, diarization or channels, roles, emotion segments; every time in the ORIGINAL recording's
time) -> ``analyze_prepared``: cut each segment's audio at the model's sample rate, predict
class probabilities with per-speaker normalisation inside the call, valence/arousal per segment,
the 2 Hz per-role curves and the call summary.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..utils import plain
from ..segments import PROB_PREFIX, add_probabilities, empty_table, set_index
from .curves import CURVE_RATE, DEFAULT_SMOOTH, role_curves
from .schema import SCHEMA_VERSION
from .summary import ReviewRules, summarize

try:  # the data engineer's table; the fallback keeps analysis usable while it is being written
    from ..labels.schemes import CIRCUMPLEX as _CIRCUMPLEX
except Exception:  # noqa: BLE001
    _CIRCUMPLEX = None

#: used only if callemo.labels.schemes is unavailable: (valence, arousal) in [-1, 1]
#: (Russell's circumplex, the same placement as labels/schemes.py is to give)
FALLBACK_CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "calm": (0.4, -0.6),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "angry": (-0.7, 0.8),
    "fearful": (-0.6, 0.7),
    "disgust": (-0.7, 0.3),
    "surprised": (0.3, 0.8),
    "emotional": (-0.3, 0.5),
    "negative": (-0.6, 0.3),
    "positive": (0.6, 0.3),
}

SEGMENT_COLUMNS = ["speaker", "role", "channel", "overlap"]


class AnalysisError(CallemoError, RuntimeError):
    """A call cannot be analysed (names the file and the problem)."""


def circumplex() -> dict[str, tuple[float, float]]:
    table = dict(FALLBACK_CIRCUMPLEX)
    if _CIRCUMPLEX:
        table.update({str(k): (float(v[0]), float(v[1])) for k, v in _CIRCUMPLEX.items()})
    return table


def circumplex_dimensions(proba: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Probability-weighted (valence, arousal) of each row: ``proba @ coordinates``.

    Labels missing from the circumplex table count as (0, 0) (neutral).
    """
    table = circumplex()
    coords = np.array([table.get(str(lab).lower(), (0.0, 0.0)) for lab in labels], dtype=float)
    p = np.asarray(proba, dtype=float)
    if p.size == 0:
        return np.zeros((len(p), 2))
    return np.clip(p @ coords, -1.0, 1.0)


def resolve_model(model: Any = None):
    """``None`` -> the default model; a path -> ``load_model(path)``; a model -> itself."""
    from ..models.base import EmotionModel, load_model

    if isinstance(model, EmotionModel):
        return model
    if model is None:
        from ..models.base import MODEL_CARD, ModelError, default_model_dir

        if not (default_model_dir() / MODEL_CARD).exists():
            raise ModelError(f"the default model is missing from this installation ({default_model_dir()} has no "
                             f"{MODEL_CARD}); pass a model directory with --model DIR")
    m = load_model(None if model is None else Path(model))
    if model is not None:
        m.card = dict(m.card)
        m.card.setdefault("path", str(Path(model).resolve()))
    # every call is new audio: an on-disk feature cache would only grow (one entry per segment of
    # every call of an archive) and cost hashing time, so analysis turns it off
    if isinstance(getattr(m, "config", None), dict):
        m.config["cache"] = False
    return m


def model_info(model, dimensions: str) -> dict[str, Any]:
    card = getattr(model, "card", {}) or {}
    return {
        "type": str(getattr(model, "model_type", card.get("type", "unknown"))),
        "path": card.get("path"),
        "name": card.get("name"),
        "labels": [str(x) for x in model.labels],
        "sample_rate": int(model.sample_rate),
        "min_duration": float(model.min_duration),
        "dimensions": dimensions,
    }


@dataclass
class CallResult:
    """A call's emotional timeline: segments with predictions, 2 Hz curves, summary."""

    file: str
    duration: float
    sample_rate: int
    channels: int
    segments: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    summary: dict[str, Any]
    labels: list[str]
    model: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    curve_rate: float = CURVE_RATE

    @property
    def stem(self) -> str:
        return Path(self.file).stem

    def segment_records(self) -> list[dict[str, Any]]:
        out = []
        if self.segments is None or len(self.segments) == 0:
            return out
        flat = self.segments.reset_index()
        for r in flat.to_dict("records"):
            ch = r.get("channel")
            out.append({
                "start": round(float(r["start"]), 3),
                "end": round(float(r["end"]), 3),
                "speaker": str(r.get("speaker")),
                "role": str(r.get("role")),
                "channel": None if ch is None or pd.isna(ch) else int(ch),
                "overlap": bool(r.get("overlap")) if r.get("overlap") is not None and not pd.isna(r.get("overlap")) else False,
                "emotion": str(r["emotion"]),
                "confidence": _num(r["confidence"], 0.0),
                "probabilities": {lab: _num(r.get(PROB_PREFIX + lab)) for lab in self.labels},
                "valence": _num(r.get("valence")),
                "arousal": _num(r.get("arousal")),
            })
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of issue 5 (see ``callemo.analyze.schema.CallJSON``)."""
        return _clean({
            "schema_version": SCHEMA_VERSION,
            "file": self.file,
            "duration": round(float(self.duration), 3),
            "sample_rate": int(self.sample_rate),
            "channels": int(self.channels),
            "segments": self.segment_records(),
            "curve_rate": self.curve_rate,
            "curves": {
                role: {
                    "time": [round(float(t), 3) for t in c["time"]],
                    "valence": [_num(v) for v in c["valence"]],
                    "arousal": [_num(v) for v in c["arousal"]],
                }
                for role, c in self.curves.items()
            },
            "summary": self.summary,
            "model": self.model or None,
            "settings": self.settings,
            "timing": {k: round(float(v), 3) for k, v in self.timing.items()},
        })

    def table(self) -> pd.DataFrame:
        """The flat segment table written to ``<stem>.csv`` / ``.parquet``."""
        if self.segments is None or len(self.segments) == 0:
            cols = ["file", "start", "end", *SEGMENT_COLUMNS, "emotion", "confidence", "valence", "arousal"]
            return pd.DataFrame(columns=cols + [PROB_PREFIX + lab for lab in self.labels])
        flat = self.segments.reset_index()
        front = ["file", "start", "end"] + [c for c in SEGMENT_COLUMNS if c in flat.columns] + \
            ["emotion", "confidence", "valence", "arousal"]
        rest = [c for c in flat.columns if c not in front]
        return flat[front + rest]


def _num(x: Any, default: float | None = None) -> float | None:
    if x is None:
        return default
    try:
        f = float(x)
    except (TypeError, ValueError):
        return default
    return round(f, 4) if np.isfinite(f) else default


_clean = plain  # NaN/inf -> None, numpy -> Python; kept for callers that import it from here


# -- core ------------------------------------------------------------------------------------
def _channel_signals(audio: np.ndarray, sr: int, target_sr: int) -> list[np.ndarray]:
    """The call's channels as 1-D float32 arrays at ``target_sr`` (mono -> one channel)."""
    from ..io import resample

    a = np.asarray(audio, dtype=np.float32)
    chans = [a] if a.ndim == 1 else [a[i] for i in range(a.shape[0])]
    return [resample(c, sr, target_sr) if sr != target_sr else c for c in chans]


def _mono(chans: list[np.ndarray]) -> np.ndarray:
    if len(chans) == 1:
        return chans[0]
    n = min(len(c) for c in chans)
    return np.mean([c[:n] for c in chans], axis=0).astype(np.float32)


def predict_segments(
    segments: pd.DataFrame,
    audio: np.ndarray,
    sr: int,
    model,
    *,
    batch_seconds: float = 600.0,
) -> tuple[pd.DataFrame, str]:
    """Add ``p_<label>``, ``emotion``, ``confidence``, ``valence``, ``arousal`` to a segment table.

    ``audio`` is the call in original time, mono ``(n,)`` or ``(channels, n)`` at ``sr``; a
    segment with a ``channel`` value is cut from that channel, otherwise from the mono mix.
    Segments shorter than ``model.min_duration`` get emotion ``unknown``, confidence 0 and
    NaN probabilities/valence/arousal. The speaker ids are passed to the model for per-speaker
    normalisation inside the call. Returns the table and the source of the dimensions
    (``"model"`` or ``"circumplex"``).
    """
    labels = [str(x) for x in model.labels]
    if segments is None or len(segments) == 0:
        table = empty_table(SEGMENT_COLUMNS)
        table = add_probabilities(table, np.zeros((0, len(labels))), labels)
        table["valence"] = np.zeros(0)
        table["arousal"] = np.zeros(0)
        return table, "none"

    msr = int(model.sample_rate)
    chans = _channel_signals(audio, sr, msr)
    mono = None
    starts = segments.index.get_level_values("start").to_numpy(float)
    ends = segments.index.get_level_values("end").to_numpy(float)
    chan_col = segments["channel"] if "channel" in segments.columns else pd.Series([np.nan] * len(segments))
    speakers = segments["speaker"].astype(str).tolist() if "speaker" in segments.columns else ["spk"] * len(segments)
    short = (ends - starts) < float(model.min_duration) - 1e-9
    if "unknown" in segments.columns:  # the preparation marked it too short (after merging)
        short |= segments["unknown"].fillna(False).astype(bool).to_numpy()

    signals: list[np.ndarray] = []
    for i, (s, e, ch) in enumerate(zip(starts, ends, chan_col.to_numpy())):
        if ch is not None and not pd.isna(ch) and len(chans) > 1 and 0 <= int(ch) < len(chans):
            src = chans[int(ch)]
        else:
            if mono is None:
                mono = _mono(chans)
            src = mono
        i0, i1 = int(round(s * msr)), int(round(e * msr))
        i0, i1 = max(0, min(i0, len(src))), max(0, min(i1, len(src)))
        sig = src[i0:i1]
        if len(sig) < max(1, int(float(model.min_duration) * msr) - 1):
            short[i] = True
        signals.append(sig)

    idx = np.flatnonzero(~short)
    proba = np.full((len(segments), len(labels)), np.nan)
    dims = np.full((len(segments), 2), np.nan)
    source = "circumplex"
    if len(idx):
        # predict in chunks of about batch_seconds of audio to bound feature memory on long calls
        chunks, cur, acc = [], [], 0.0
        for i in idx:
            cur.append(i)
            acc += len(signals[i]) / msr
            if acc >= batch_seconds:
                chunks.append(cur)
                cur, acc = [], 0.0
        if cur:
            chunks.append(cur)
        # per-speaker normalisation needs each speaker's whole call: use one chunk when the model
        # normalises per speaker, otherwise chunks
        card = getattr(model, "card", {}) or {}
        if str(card.get("normalisation", card.get("config", {}).get("normalisation", ""))).lower() == "speaker":
            chunks = [list(idx)]
        for ch_idx in chunks:
            sigs = [signals[i] for i in ch_idx]
            spk = [speakers[i] for i in ch_idx]
            p = np.asarray(model.predict_proba(sigs, spk), dtype=float)
            if p.shape != (len(ch_idx), len(labels)):
                raise AnalysisError(f"model returned probabilities of shape {p.shape} for {len(ch_idx)} segments x {len(labels)} labels")
            proba[ch_idx] = p
            d = model.predict_dimensions(sigs, spk)
            if d is not None:
                dims[ch_idx] = np.clip(np.asarray(d, dtype=float).reshape(len(ch_idx), 2), -1, 1)
                source = "model"
            else:
                dims[ch_idx] = circumplex_dimensions(p, labels)
    table = add_probabilities(segments, np.nan_to_num(proba, nan=0.0), labels, unknown_mask=short)
    table["valence"] = dims[:, 0]
    table["arousal"] = dims[:, 1]
    return table, source


def analyze_prepared(
    segments: pd.DataFrame,
    audio: np.ndarray,
    sr: int,
    *,
    file: str,
    duration: float | None = None,
    file_sample_rate: int | None = None,
    model=None,
    smooth: float = DEFAULT_SMOOTH,
    rules: ReviewRules = ReviewRules(),
    speech: pd.DataFrame | None = None,
    overlaps: list[tuple[float, float]] | None = None,
    settings: dict[str, Any] | None = None,
    timing: dict[str, float] | None = None,
    channels: int | None = None,
) -> CallResult:
    """Analyse a call whose segment table (original time) and audio are already there.

    ``speech``: the speaker-turn table when it differs from the emotion segments (talk time and
    overlap come from it); ``overlaps``: stretches of overlapped speech found by the preparation;
    ``channels``: channels of the file (default: of ``audio``).
    """
    model = resolve_model(model)
    audio = np.asarray(audio, dtype=np.float32)
    n = audio.shape[-1]
    duration = float(duration if duration is not None else n / sr)
    timing = dict(timing or {})
    t0 = time.perf_counter()
    table, source = predict_segments(segments, audio, sr, model)
    timing["emotion"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    curves = role_curves(table, duration, smooth=smooth)
    for role in ("agent", "client"):  # always both main roles, NaN when absent
        if role not in curves:
            curves.update(role_curves(table.iloc[0:0] if len(table) else table, duration, smooth=smooth, roles=[role]))
    curves = {r: curves[r] for r in (["agent", "client"] + [r for r in curves if r not in ("agent", "client")])}
    labels = [str(x) for x in model.labels]
    summary = summarize(table, duration, speech=speech, overlaps=overlaps, labels=labels, rules=rules)
    timing["summary"] = time.perf_counter() - t0
    return CallResult(
        file=str(file),
        duration=duration,
        sample_rate=int(file_sample_rate or sr),
        channels=int(channels) if channels else (1 if audio.ndim == 1 else int(audio.shape[0])),
        segments=table,
        curves=curves,
        summary=summary,
        labels=labels,
        model=model_info(model, source if source != "none" else ("model" if _has_dims(model) else "circumplex")),
        settings=dict(settings or {}, smooth=smooth),
        timing=timing,
    )


def _has_dims(model) -> bool:
    from ..models.base import EmotionModel

    return type(model).predict_dimensions is not EmotionModel.predict_dimensions


def _prepared_parts(prepared, path: Path) -> tuple[pd.DataFrame, np.ndarray, int, float, pd.DataFrame | None, list | None]:
    """Segment table, audio (original time), its rate, duration, turn table and overlaps of a PreparedCall."""
    seg = getattr(prepared, "segments", None)
    if seg is None:
        seg = getattr(prepared, "table", None)
    if seg is None:
        raise AnalysisError(f"{path}: call preparation returned no segment table")
    if not isinstance(seg.index, pd.MultiIndex):
        seg = set_index(seg)
    audio = getattr(prepared, "audio", None)
    sr = getattr(prepared, "sr", None) or getattr(prepared, "sample_rate", None)
    if audio is None or sr is None:
        from ..io import load_audio

        audio, sr = load_audio(path, mono=False)
    dur = getattr(prepared, "duration", None)
    if dur is None:
        dur = np.asarray(audio).shape[-1] / sr
    # speaker turns (talk time, overlap) when the preparation keeps them apart from the segments
    turns = getattr(prepared, "turns", None)
    if not isinstance(turns, pd.DataFrame):
        turns = None
    overlaps = getattr(prepared, "overlaps", None)
    overlaps = None if overlaps is None else [(float(a), float(b)) for a, b in overlaps]
    if getattr(prepared, "stereo", None) is False or np.asarray(audio).ndim == 1:
        # a mono call has no source channel: null in the outputs
        seg = seg.copy()
        seg["channel"] = np.nan
    return seg, audio, int(sr), float(dur), turns, overlaps


def analyze_file(
    path: str | os.PathLike,
    *,
    model=None,
    channels: Sequence[str] | str | None = None,
    speakers: int | str = 2,
    first_speaker: str = "agent",
    max_silence: float = 3.0,
    target_silence: float = 1.0,
    smooth: float = DEFAULT_SMOOTH,
    rules: ReviewRules = ReviewRules(),
    prepare=None,
) -> CallResult:
    """Analyse one call recording (mono or stereo, any sample rate).

    ``model``: ``None`` (the default model), a model directory, or an ``EmotionModel``.
    ``channels``: stereo channel names in order, e.g. ``["agent", "client"]`` (default channel 0 =
    agent). ``speakers``: number of speakers for mono diarization, or ``"auto"``.
    ``first_speaker``: role of whoever talks first in a mono call. ``max_silence`` /
    ``target_silence``: silences longer than ``max_silence`` s are compressed to
    ``target_silence`` s for processing (outputs stay in original time). ``smooth``: Gaussian
    sigma of the 2 Hz curves, seconds. ``prepare``: a replacement for
    ``callemo.prep.call.prepare_call`` with the same signature (e.g. one that reads known
    segments); it must be a module-level function for batch workers.
    """
    from ..io import audio_info

    p = Path(path)
    info = audio_info(p)  # raises AudioError (missing / empty / undecodable) naming the file
    if info.frames == 0:
        from ..io import AudioError

        raise AudioError(p, "no audio samples (zero length)")
    if isinstance(channels, str) and channels.strip().lower() != "mono":
        channels = [c.strip() for c in channels.split(",") if c.strip()]
    model = resolve_model(model)
    if prepare is not None:
        prepare_call = prepare
    else:
        try:
            from ..prep.call import prepare_call
        except ImportError as e:  # pragma: no cover - while call preparation is being written
            raise AnalysisError(f"call preparation is not available ({e})") from None
    t0 = time.perf_counter()
    kw: dict[str, Any] = {}
    try:  # segments shorter than the model can judge are merged with a neighbour where possible
        import inspect

        if "min_len" in inspect.signature(prepare_call).parameters:
            kw["min_len"] = float(model.min_duration)
    except (TypeError, ValueError):
        pass
    prepared = prepare_call(
        p, channels=(list(channels) if not isinstance(channels, str) else channels) if channels else None, speakers=speakers, first_speaker=first_speaker,
        max_silence=max_silence, target_silence=target_silence, **kw,
    )
    t_prep = time.perf_counter() - t0
    seg, audio, sr, dur, speech, overlaps = _prepared_parts(prepared, p)
    timing = {"prepare": t_prep}
    extra = getattr(prepared, "timing", None)
    if isinstance(extra, dict):
        timing.update({f"prepare.{k}": float(v) for k, v in extra.items() if isinstance(v, (int, float))})
    settings = {
        "channels": (list(channels) if not isinstance(channels, str) else channels) if channels else None, "speakers": speakers, "first_speaker": first_speaker,
        "max_silence": max_silence, "target_silence": target_silence,
    }
    return analyze_prepared(
        seg, audio, sr, file=str(p.resolve()), duration=dur, file_sample_rate=info.sample_rate, model=model,
        smooth=smooth, rules=rules, speech=speech, overlaps=overlaps, settings=settings, timing=timing,
        channels=info.channels,
    )
