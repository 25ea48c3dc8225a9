"""The JSON schema of one analysed call (``<stem>.json``), as pydantic models.

``CallJSON.model_validate(json.load(f))`` checks a file; ``CallJSON.model_json_schema()`` gives
the JSON Schema (``callemo analyze --print-schema`` would print it; docs/analysis.md documents it).
All times are seconds in the original recording's time; missing or undefined numbers (NaN)
are ``null``.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


class _Open(BaseModel):
    """Tolerates extra keys, so readers of version 1.x keep working when keys are added."""

    model_config = ConfigDict(extra="allow")


class SegmentJSON(_Open):
    start: float = Field(..., ge=0, description="segment start, seconds (original time)")
    end: float = Field(..., ge=0, description="segment end, seconds (original time)")
    speaker: str = Field(..., description="speaker id (channel name for stereo, cluster id for mono)")
    role: str = Field(..., description="agent | client | unknown")
    channel: Optional[int] = Field(None, description="source channel (stereo) or null (mono)")
    overlap: bool = Field(False, description="overlapped speech flagged by the preparation")
    emotion: str = Field(..., description="predicted label, or 'unknown' when the segment is too short to judge")
    confidence: float = Field(..., ge=0, le=1, description="probability of the predicted label; 0 for unknown")
    probabilities: dict[str, Optional[float]] = Field(..., description="label -> probability (null for unknown)")
    valence: Optional[float] = Field(None, ge=-1, le=1)
    arousal: Optional[float] = Field(None, ge=-1, le=1)


class CurveJSON(_Open):
    time: list[float] = Field(..., description="grid times, seconds, every 1/rate s from 0")
    valence: list[Optional[float]] = Field(..., description="smoothed valence; null where the role is silent")
    arousal: list[Optional[float]] = Field(..., description="smoothed arousal; null where the role is silent")


class TrendJSON(_Open):
    start_valence: Optional[float]
    end_valence: Optional[float]
    change: Optional[float]
    direction: str = Field(..., description="improving | worsening | stable | unknown")
    start_arousal: Optional[float] = None
    end_arousal: Optional[float] = None


class MomentJSON(_Open):
    start: float
    end: float
    role: str
    speaker: str
    emotion: str
    confidence: Optional[float]
    valence: Optional[float]
    arousal: Optional[float]


class SummaryJSON(_Open):
    duration: float
    n_segments: int
    n_unknown: int
    speech_time: float
    talk_time: dict[str, float]
    talk_share: dict[str, float]
    silence_share: float = Field(..., ge=0, le=1)
    overlap_share: float = Field(..., ge=0, le=1)
    labels: Optional[list[str]]
    emotion_distribution: dict[str, dict[str, float]]
    dominant_emotion: dict[str, Optional[str]]
    mean: dict[str, dict[str, Optional[float]]]
    mean_confidence: Optional[float]
    unknown_share: float
    client_trend: TrendJSON
    negative_moments: list[MomentJSON]
    needs_review: bool
    review_reasons: list[str]


class ModelInfoJSON(_Open):
    type: str
    path: Optional[str] = None
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
    model: Optional[ModelInfoJSON] = None
    settings: dict = Field(default_factory=dict, description="the analysis settings used")
    timing: dict = Field(default_factory=dict, description="seconds spent per stage")
