"""The JSON schema of one analysed call (``<stem>.json``), as pydantic models.

``CallJSON.model_validate(json.load(f))`` checks a file; ``CallJSON.model_json_schema()`` gives
the JSON Schema (``callemo analyze --print-schema`` would print it; docs/analysis.md documents it).
All times are seconds in the original recording's time; missing or undefined numbers (NaN)
are ``null``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: 1.1: segments whose role gets no emotions (``settings.emotions == "client"``: the agent) have
#: ``emotion``, ``confidence`` and ``probabilities`` null; ``summary.emotions`` says whose emotions
#: were inferred; ``summary.rules`` uses the shared threshold names (``emotion_confidence``,
#: ``emotions``, ``negative_valence``); ``settings`` is ``AnalysisOptions`` (with ``vad``).
#: 1.2: ``summary.diarization`` (method, confidence of a mono call's speaker attribution).
#: 1.3: with ``settings.transcribe`` (``--transcribe``), segments get ``text`` (redacted unless
#: ``settings.redact`` is false) and ``words`` (``[{start, end, word}]``, redacted words replaced by one
#: tag entry), and ``summary.transcript`` says the language, the ASR model and whether it was redacted;
#: ``settings`` gains ``transcribe``, ``asr``, ``redact``, ``redact_names``, ``redact_audio``.
SCHEMA_VERSION = "1.3"


class _Open(BaseModel):
    """Tolerates extra keys, so readers of version 1.x keep working when keys are added."""

    model_config = ConfigDict(extra="allow")


class WordJSON(_Open):
    start: float = Field(..., ge=0, description="seconds (original time)")
    end: float = Field(..., ge=0, description="seconds (original time)")
    word: str = Field(..., description="the word, or the tag that replaced a redacted stretch ([CARD], ...)")


class TranscriptJSON(_Open):
    language: str = Field(..., description="the call's language (detected once per call, or as given)")
    language_probability: float | None = Field(
        None, ge=0, le=1, description="probability of the detected language; null when given or English-only")
    asr: str = Field(..., description="speech recognition model: base | tiny.en")
    redacted: bool = Field(..., description="whether PII was replaced by tags (only redacted text is stored)")
    redactions: dict[str, int] | None = Field(None, description="how many stretches of each kind were redacted")


class SegmentJSON(_Open):
    start: float = Field(..., ge=0, description="segment start, seconds (original time)")
    end: float = Field(..., ge=0, description="segment end, seconds (original time)")
    speaker: str = Field(..., description="speaker id (channel name for stereo, cluster id for mono)")
    role: str = Field(..., description="agent | client | unknown")
    channel: int | None = Field(None, description="source channel (stereo) or null (mono)")
    overlap: bool = Field(False, description="overlapped speech flagged by the preparation")
    emotion: str | None = Field(..., description="predicted label, 'unknown' when the segment is too short to "
                                   "judge, null when emotions are not inferred for the role (settings.emotions)")
    confidence: float | None = Field(..., ge=0, le=1, description="probability of the predicted label; 0 for "
                                        "unknown, null when not inferred")
    probabilities: dict[str, float | None] | None = Field(
        ..., description="label -> probability (null for unknown); null when not inferred")
    valence: float | None = Field(None, ge=-1, le=1)
    arousal: float | None = Field(None, ge=-1, le=1)
    text: str | None = Field(None, description="what was said (--transcribe), PII replaced by [CARD], [ACCOUNT], "
                                              "[PHONE], [EMAIL], [NAME] unless settings.redact is false")
    words: list[WordJSON] | None = Field(None, description="the recognised words with their times (--transcribe)")


class CurveJSON(_Open):
    time: list[float] = Field(..., description="grid times, seconds, every 1/rate s from 0")
    valence: list[float | None] = Field(..., description="smoothed valence; null where the role is silent")
    arousal: list[float | None] = Field(..., description="smoothed arousal; null where the role is silent")


class TrendJSON(_Open):
    start_valence: float | None
    end_valence: float | None
    change: float | None
    direction: str = Field(..., description="improving | worsening | stable | unknown")
    start_arousal: float | None = None
    end_arousal: float | None = None


class MomentJSON(_Open):
    start: float
    end: float
    role: str
    speaker: str
    emotion: str
    confidence: float | None
    valence: float | None
    arousal: float | None


class EmotionScopeJSON(_Open):
    inferred_roles: list[str] = Field(..., description="roles whose emotions were inferred")
    not_inferred_roles: list[str] = Field(default_factory=list, description="roles that got turns and talk time only")
    note: str | None = Field(default=None, description="why, when a role's emotions were not inferred")


class DiarizationJSON(_Open):
    method: str = Field(
        ..., description="'channels' (one speaker per channel), 'embeddings' (mono, clustered) or 'none'")
    confidence: float | None = Field(
        default=None, ge=0, le=1,
        description="mono calls: share of speech whose voice sits clearly closer to its own speaker than to the other "
                    "(0..1; low = doubtful speaker attribution); null for stereo calls and one-speaker calls")


class SummaryJSON(_Open):
    duration: float
    n_segments: int
    n_unknown: int
    speech_time: float
    talk_time: dict[str, float]
    talk_share: dict[str, float]
    silence_share: float = Field(..., ge=0, le=1)
    overlap_share: float = Field(..., ge=0, le=1)
    labels: list[str] | None
    emotion_distribution: dict[str, dict[str, float]]
    dominant_emotion: dict[str, str | None]
    mean: dict[str, dict[str, float | None]]
    mean_confidence: float | None
    unknown_share: float
    client_trend: TrendJSON
    negative_moments: list[MomentJSON]
    needs_review: bool
    review_reasons: list[str]
    emotions: EmotionScopeJSON = EmotionScopeJSON(inferred_roles=["agent", "client"])
    diarization: DiarizationJSON = DiarizationJSON(method="none")
    rules: dict = Field(default_factory=dict, description="the review thresholds used (ReviewRules)")
    transcript: TranscriptJSON | None = Field(None, description="with --transcribe: language, model, redaction")


class ModelInfoJSON(_Open):
    type: str
    path: str | None = None
    labels: list[str]
    sample_rate: int
    min_duration: float
    dimensions: str = Field(..., description="'model' (predict_dimensions) or 'circumplex' (from probabilities)")


class CallJSON(_Open):
    schema_version: str = SCHEMA_VERSION
    file: str = Field(..., description="the analysed file (absolute path)")
    duration: float = Field(..., ge=0, description="seconds")
    sample_rate: int = Field(..., description="the file's own sample rate")
    channels: int = Field(1, description="channels in the file")
    segments: list[SegmentJSON]
    curves: dict[str, CurveJSON] = Field(..., description="role -> 2 Hz smoothed curves")
    curve_rate: float = 2.0
    summary: SummaryJSON
    model: ModelInfoJSON | None = None
    settings: dict = Field(default_factory=dict, description="the analysis settings used")
    timing: dict = Field(default_factory=dict, description="seconds spent per stage")
