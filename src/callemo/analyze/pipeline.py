"""One call in, one emotional timeline out.

``analyze_file`` = ``callemo.prep.call.prepare_call`` (VAD, silence compression with a time map
back, diarization or channels, roles, emotion segments; every time in the ORIGINAL recording's
time) -> ``analyze_prepared``: cut each segment's audio at the model's sample rate, predict
class probabilities with per-speaker normalisation inside the call, valence/arousal per segment,
the 2 Hz per-role curves and the call summary. Every setting comes from one
:class:`~callemo.analyze.options.AnalysisOptions`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..labels.schemes import CIRCUMPLEX, canonical_label
from ..models.base import EmotionModel
from ..segments import PROB_PREFIX, add_probabilities, empty_table
from ..utils import plain
from .curves import CURVE_RATE, role_curves
from .options import AnalysisOptions, parse_options
from .schema import SCHEMA_VERSION, SummaryJSON, TranscriptJSON
from .summary import summarize

if TYPE_CHECKING:
    from ..prep.call import PreparedCall

SEGMENT_COLUMNS = ["speaker", "role", "channel", "overlap"]


class AnalysisError(CallemoError, RuntimeError):
    """A call cannot be analysed (names the file and the problem)."""


def circumplex_dimensions(proba: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Probability-weighted (valence, arousal) of each row: ``proba @ coordinates``.

    Coordinates are :data:`callemo.labels.schemes.CIRCUMPLEX` (synonyms such as ``anger`` are
    mapped to their canonical label); labels missing from it count as (0, 0) (neutral).
    """
    coords = np.array([CIRCUMPLEX.get(canonical_label(str(lab)), (0.0, 0.0)) for lab in labels], dtype=float)
    p = np.asarray(proba, dtype=float)
    if p.size == 0:
        return np.zeros((len(p), 2))
    return np.clip(p @ coords.reshape(len(labels), 2), -1.0, 1.0)


def resolve_model(model: EmotionModel | str | os.PathLike | None = None) -> EmotionModel:
    """``None`` -> the default model; a path -> ``load_model(path)``; a model -> itself."""
    from ..models.base import MODEL_CARD, ModelError, default_model_dir, load_model

    if isinstance(model, EmotionModel):
        return model
    if model is None and not (default_model_dir() / MODEL_CARD).exists():
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


def model_info(model: EmotionModel, dimensions: str) -> dict[str, Any]:
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


def _num(x: Any, default: float | None = None) -> float | None:
    if x is None:
        return default
    try:
        f = float(x)
    except (TypeError, ValueError):
        return default
    return round(f, 4) if np.isfinite(f) else default


@dataclass
class CallResult:
    """A call's emotional timeline: the segment table with predictions, 2 Hz curves, summary.

    ``segments``: index ``(file, start, end)`` (seconds, original time), columns ``speaker``,
    ``role``, ``channel``, ``overlap``, ``emotion``, ``confidence``, ``p_<label>``, ``valence``,
    ``arousal`` (NaN / None where emotions were not inferred, see ``AnalysisOptions.emotions``).
    """

    file: str
    duration: float
    sample_rate: int
    channels: int
    segments: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    summary: SummaryJSON
    labels: list[str]
    model: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    curve_rate: float = CURVE_RATE
    #: ``--redact-audio``: time spans (s) of redacted words, muted in the stored audio copies
    muted: list[tuple[float, float]] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return Path(self.file).stem

    def segment_records(self) -> list[dict[str, Any]]:
        if self.segments is None or len(self.segments) == 0:
            return []
        out = []
        for r in self.segments.reset_index().to_dict("records"):
            ch, ov, emo = r.get("channel"), r.get("overlap"), r.get("emotion")
            inferred = isinstance(emo, str)
            out.append({
                "start": round(float(r["start"]), 3),
                "end": round(float(r["end"]), 3),
                "speaker": str(r.get("speaker")),
                "role": str(r.get("role")),
                "channel": None if ch is None or pd.isna(ch) else int(ch),
                "overlap": bool(ov) if ov is not None and not pd.isna(ov) else False,
                "emotion": str(emo) if inferred else None,
                "confidence": _num(r.get("confidence"), 0.0) if inferred else None,
                "probabilities": {lab: _num(r.get(PROB_PREFIX + lab)) for lab in self.labels} if inferred else None,
                "valence": _num(r.get("valence")),
                "arousal": _num(r.get("arousal")),
            })
            if "text" in r:  # transcribed (already redacted)
                words = r.get("words")
                out[-1]["text"] = str(r["text"]) if isinstance(r["text"], str) else ""
                out[-1]["words"] = [dict(w) for w in words] if isinstance(words, list) else []
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of one call (see ``callemo.analyze.schema.CallJSON``)."""
        return plain({
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
            "summary": self.summary.model_dump(mode="json"),
            "model": self.model or None,
            "settings": self.settings,
            "timing": {k: round(float(v), 3) for k, v in self.timing.items()},
        })

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON document as text (NaN -> null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def table(self) -> pd.DataFrame:
        """The flat segment table written to ``<stem>.csv`` / ``.parquet``."""
        if self.segments is None or len(self.segments) == 0:
            cols = ["file", "start", "end", *SEGMENT_COLUMNS, "emotion", "confidence", "valence", "arousal"]
            return pd.DataFrame(columns=cols + [PROB_PREFIX + lab for lab in self.labels])
        flat = self.segments.reset_index()
        front = ["file", "start", "end"] + [c for c in SEGMENT_COLUMNS if c in flat.columns] + \
            ["emotion", "confidence", "valence", "arousal"]
        # the timed words stay in the JSON; the table carries the (redacted) text
        rest = [c for c in flat.columns if c not in front and c != "words"]
        return flat[front + rest]


# -- core ------------------------------------------------------------------------------------
def _diarization_method(prepared: PreparedCall) -> Literal["channels", "embeddings", "none"]:
    """How the preparation found the speakers: one per channel, clustered voices, or no split."""
    if prepared.stereo:
        return "channels"
    return "embeddings" if prepared.n_speakers >= 2 else "none"


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


def prediction_chunks(seconds: Sequence[float], per_speaker: bool, batch_seconds: float) -> list[list[int]]:
    """Positions of the segments each ``predict_proba`` call gets.

    A model that normalises per speaker needs each speaker's whole call in one call (its
    statistics come from it): one chunk of everything. Otherwise consecutive chunks of about
    ``batch_seconds`` of audio bound the feature memory of long calls.
    """
    if per_speaker:
        return [list(range(len(seconds)))] if len(seconds) else []
    chunks: list[list[int]] = []
    cur: list[int] = []
    acc = 0.0
    for i, s in enumerate(seconds):
        cur.append(i)
        acc += float(s)
        if acc >= batch_seconds:
            chunks.append(cur)
            cur, acc = [], 0.0
    if cur:
        chunks.append(cur)
    return chunks


def predict_segments(
    segments: pd.DataFrame,
    audio: np.ndarray,
    sr: int,
    model: EmotionModel,
    *,
    roles: Collection[str] | None = None,
    batch_seconds: float = 600.0,
) -> tuple[pd.DataFrame, str]:
    """Add ``p_<label>``, ``emotion``, ``confidence``, ``valence``, ``arousal`` to a segment table.

    ``audio`` is the call in original time, mono ``(n,)`` or ``(channels, n)`` at ``sr``; a
    segment with a ``channel`` value is cut from that channel, otherwise from the mono mix.
    Segments shorter than ``model.min_duration`` get emotion ``unknown``, confidence 0 and
    NaN probabilities/valence/arousal. ``roles``: only segments of these roles get predictions
    (``None``: all); the others keep their rows with every prediction column NaN and are never
    shown to the model. The speaker ids are passed to the model for per-speaker normalisation
    inside the call. Returns the table and the source of the dimensions (``"model"``,
    ``"circumplex"`` or ``"none"`` when nothing was predicted).
    """
    labels = [str(x) for x in model.labels]
    if segments is None or len(segments) == 0:
        table = add_probabilities(empty_table(SEGMENT_COLUMNS), np.zeros((0, len(labels))), labels)
        table["valence"] = np.zeros(0)
        table["arousal"] = np.zeros(0)
        return table, "none"

    n = len(segments)
    msr = int(model.sample_rate)
    chans = _channel_signals(audio, sr, msr)
    mono: np.ndarray | None = None
    starts = segments.index.get_level_values("start").to_numpy(float)
    ends = segments.index.get_level_values("end").to_numpy(float)
    chan_col = segments["channel"].to_numpy() if "channel" in segments.columns else np.full(n, np.nan)
    speakers = segments["speaker"].astype(str).tolist() if "speaker" in segments.columns else ["spk"] * n
    if roles is None or "role" not in segments.columns:
        skipped = np.zeros(n, bool)
    else:
        skipped = ~segments["role"].astype(str).isin(list(roles)).to_numpy()
    short = (ends - starts) < float(model.min_duration) - 1e-9
    if "unknown" in segments.columns:  # the preparation marked it too short (after merging)
        short |= segments["unknown"].fillna(False).astype(bool).to_numpy()

    signals: dict[int, np.ndarray] = {}
    for i in np.flatnonzero(~skipped & ~short).tolist():
        ch = chan_col[i]
        if ch is not None and not pd.isna(ch) and len(chans) > 1 and 0 <= int(ch) < len(chans):
            src = chans[int(ch)]
        else:
            mono = _mono(chans) if mono is None else mono
            src = mono
        i0 = max(0, min(round(starts[i] * msr), len(src)))
        i1 = max(0, min(round(ends[i] * msr), len(src)))
        if i1 - i0 < max(1, int(float(model.min_duration) * msr) - 1):
            short[i] = True
        else:
            signals[i] = src[i0:i1]

    idx = np.array(sorted(signals), int)
    proba = np.full((n, len(labels)), np.nan)
    dims = np.full((n, 2), np.nan)
    source = "none"
    chunks = prediction_chunks([len(signals[i]) / msr for i in idx], model.per_speaker_normalisation, batch_seconds)
    for pos in chunks:
        rows = idx[pos]
        sigs = [signals[i] for i in rows.tolist()]
        spk = [speakers[i] for i in rows]
        p = np.asarray(model.predict_proba(sigs, spk), dtype=float)
        if p.shape != (len(rows), len(labels)):
            raise AnalysisError(f"model returned probabilities of shape {p.shape} for {len(rows)} segments "
                                f"x {len(labels)} labels")
        proba[rows] = p
        d = model.predict_dimensions(sigs, spk)
        if d is not None:
            dims[rows] = np.clip(np.asarray(d, dtype=float).reshape(len(rows), 2), -1, 1)
            source = "model"
        else:
            dims[rows] = circumplex_dimensions(p, labels)
            source = "circumplex"
    table = add_probabilities(segments, np.nan_to_num(proba, nan=0.0), labels, unknown_mask=short | skipped)
    if len(idx):  # the model's confidence (its confidence map's estimate, or the top probability)
        table.iloc[idx, table.columns.get_loc("confidence")] = model.confidence(proba[idx])
    # judged, but the top probability is below the model's threshold: "unknown", probabilities and confidence kept
    unsure = ~(short | skipped) & (np.nan_to_num(proba, nan=1.0).max(axis=1) < float(model.unknown_below))
    if unsure.any():
        table["emotion"] = table["emotion"].astype(object).where(~unsure, "unknown")
    table["valence"] = dims[:, 0]
    table["arousal"] = dims[:, 1]
    if skipped.any():  # emotions not inferred: no prediction at all, not even "unknown"
        table["emotion"] = table["emotion"].astype(object)
        table.loc[skipped, "emotion"] = np.nan
        table.loc[skipped, "confidence"] = np.nan
    return table, source


def _has_dims(model: EmotionModel) -> bool:
    return type(model).predict_dimensions is not EmotionModel.predict_dimensions


def analyze_prepared(
    segments: pd.DataFrame,
    audio: np.ndarray,
    sr: int,
    *,
    file: str,
    duration: float | None = None,
    file_sample_rate: int | None = None,
    model: EmotionModel | str | os.PathLike | None = None,
    options: AnalysisOptions | None = None,
    speech: pd.DataFrame | None = None,
    overlaps: list[tuple[float, float]] | None = None,
    timing: dict[str, float] | None = None,
    channels: int | None = None,
    diarization: Literal["channels", "embeddings", "none"] = "none",
    diarization_confidence: float | None = None,
    **overrides: Any,
) -> CallResult:
    """Analyse a call whose segment table (original time) and audio are already there.

    ``options`` (and/or ``overrides``, e.g. ``emotions="all"``): see :class:`AnalysisOptions`;
    ``smooth``, ``emotions`` and ``review`` are used here. ``speech``: the speaker-turn table when
    it differs from the emotion segments (talk time and overlap come from it); ``overlaps``:
    stretches of overlapped speech found by the preparation; ``channels``: channels of the file
    (default: of ``audio``); ``diarization`` / ``diarization_confidence``: how speakers were found and
    the preparation's confidence in a mono call's speaker attribution (into the summary).
    """
    opts = parse_options(options, **overrides)
    model = resolve_model(model)
    audio = np.asarray(audio, dtype=np.float32)
    duration = float(duration if duration is not None else audio.shape[-1] / sr)
    timing = dict(timing or {})
    t0 = time.perf_counter()
    roles = None if opts.emotions == "all" else ["client"]
    table, source = predict_segments(segments, audio, sr, model, roles=roles)
    timing["emotion"] = time.perf_counter() - t0
    transcript: dict[str, Any] | None = None
    muted: list[tuple[float, float]] = []
    if opts.transcribe is not None:  # imported only then: plain analysis never loads the ASR
        from ..text.transcribe import transcribe_table

        t0 = time.perf_counter()
        table, transcript, muted = transcribe_table(
            table, audio, sr, language=opts.transcribe, asr=opts.asr_model, redact=opts.redact,
            names=opts.redact_names)
        timing["transcribe"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    curves = role_curves(table, duration, smooth=opts.smooth)
    for role in ("agent", "client"):  # always both main roles, NaN when absent
        if role not in curves:
            curves.update(role_curves(table.iloc[0:0], duration, smooth=opts.smooth, roles=[role]))
    curves = {r: curves[r] for r in (["agent", "client"] + [r for r in curves if r not in ("agent", "client")])}
    labels = [str(x) for x in model.labels]
    summary = summarize(table, duration, speech=speech, overlaps=overlaps, labels=labels, rules=opts.review,
                        emotions=opts.emotions, diarization=diarization,
                        diarization_confidence=diarization_confidence)
    timing["summary"] = time.perf_counter() - t0
    if transcript is not None:
        summary = summary.model_copy(update={"transcript": TranscriptJSON.model_validate(transcript)})
    if source == "none":
        source = "model" if _has_dims(model) else "circumplex"
    return CallResult(
        file=str(file),
        duration=duration,
        sample_rate=int(file_sample_rate or sr),
        channels=int(channels) if channels else (1 if audio.ndim == 1 else int(audio.shape[0])),
        segments=table,
        curves=curves,
        summary=summary,
        labels=labels,
        model=model_info(model, source),
        settings=opts.settings(),
        timing=timing,
        muted=muted if opts.redact_audio else [],
    )


#: ``prepare(path_or_array, sr, *, channels, speakers, first_speaker, max_silence, target_silence, vad,
#: min_len, file)`` -> :class:`callemo.prep.call.PreparedCall` (the signature of ``prepare_call``)
PrepareFn = Callable[..., Any]


def analyze_file(
    path: str | os.PathLike | np.ndarray,
    *,
    sample_rate: int | None = None,
    model: EmotionModel | str | os.PathLike | None = None,
    options: AnalysisOptions | None = None,
    prepare: PrepareFn | None = None,
    file: str | None = None,
    **overrides: Any,
) -> CallResult:
    """Analyse one call recording (mono or stereo, any sample rate), or samples with ``sample_rate``.

    ``model``: ``None`` (the default model), a model directory, or an ``EmotionModel``.
    ``options`` and/or keyword ``overrides`` (``channels="agent,client"``, ``speakers="auto"``,
    ``first_speaker``, ``max_silence``, ``target_silence``, ``vad``, ``emotions``, ``smooth``,
    ``review``): see :class:`~callemo.analyze.options.AnalysisOptions`. ``prepare``: a
    replacement for :func:`callemo.prep.call.prepare_call` with its signature (e.g. one that
    reads known segments); it must be a module-level function for batch workers. ``file``: the
    name in the segment table's ``file`` level (default: the file's absolute path, so
    ``model.predict(result.segments)`` can read the audio; ``"call"`` for samples).
    """
    from ..io import AudioError, audio_info
    from ..prep.call import prepare_call

    opts = parse_options(options, **overrides)
    if isinstance(path, np.ndarray):
        if sample_rate is None:
            raise AnalysisError("analysing samples needs sample_rate=")
        src: str | os.PathLike | np.ndarray = path
        name = file or "call"
        file_sr = int(sample_rate)
        n_channels = 1 if path.ndim == 1 else int(min(path.shape))
    else:
        p = Path(path)
        info = audio_info(p)  # raises AudioError (missing / empty / undecodable) naming the file
        if info.frames == 0:
            raise AudioError(p, "no audio samples (zero length)")
        src, name, file_sr, n_channels = p, file or str(p.resolve()), info.sample_rate, info.channels
    model = resolve_model(model)
    t0 = time.perf_counter()
    # segments shorter than the model can judge are merged with a neighbour where possible
    prepared = (prepare or prepare_call)(
        src, sample_rate, channels=opts.channels, speakers=opts.speakers, first_speaker=opts.first_speaker,
        max_silence=opts.max_silence, target_silence=opts.target_silence, vad=opts.vad,
        min_len=float(model.min_duration), file=file or (None if isinstance(src, np.ndarray) else name))
    timing = {"prepare": time.perf_counter() - t0}
    timing.update({f"prepare.{k}": float(v) for k, v in prepared.timing.items()})
    return analyze_prepared(
        prepared.segments, prepared.audio, prepared.sample_rate, file=name, duration=prepared.duration,
        file_sample_rate=file_sr, model=model, options=opts, speech=prepared.turns, overlaps=prepared.overlaps,
        timing=timing, channels=n_channels, diarization=_diarization_method(prepared),
        diarization_confidence=prepared.diarization_confidence,
    )
