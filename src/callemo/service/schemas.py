"""The service's answers as pydantic models (the ``response_model`` of each route, so the OpenAPI
schema at ``/openapi.json`` says exactly what comes back). A finished call's analysis is the file
analysis's own :class:`~callemo.analyze.schema.CallJSON`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..analyze.schema import CallJSON, SegmentJSON, SummaryJSON

Status = Literal["queued", "running", "done", "failed"]


class CallOptions(BaseModel):
    """The analysis options an upload was made with (see callemo.analyze.options)."""

    model_config = ConfigDict(extra="allow")

    channels: list[str] | Literal["mono"] | None = None
    speakers: int | Literal["auto"] = 2
    first_speaker: str | None = None
    emotions: Literal["client", "all"] | None = None


class StreamCallJSON(BaseModel):
    """A live call kept with ``"store": true``: its segments and summary."""

    model_config = ConfigDict(extra="allow")

    file: str = Field(..., description="the stream's name")
    source: Literal["stream"] = "stream"
    duration: float = Field(..., ge=0)
    sample_rate: int
    channels: int
    segments: list[SegmentJSON]
    summary: SummaryJSON
    n_alerts: int = 0
    settings: dict = Field(default_factory=dict, description="the analysis options of the stream")


class CallBase(BaseModel):
    id: str = Field(..., description="32 hex characters")
    file_name: str = Field(..., description="the uploaded file's name, or the stream's name")
    uploaded_at: str | None = Field(None, description="UTC, ISO 8601")
    status: Status
    error: str | None = None
    duration: float | None = Field(None, description="seconds")
    needs_review: bool | None = None
    review_reason: str | None = None
    source: Literal["upload", "stream"] = "upload"
    started_at: str | None = None
    finished_at: str | None = None


class CallItem(CallBase):
    """A call in a listing."""

    client_trend: str | None = Field(None, description="improving | worsening | stable | unknown")


class Call(CallBase):
    """A call's record, with its analysis once done."""

    options: CallOptions | None = None
    summary: SummaryJSON | None = None
    result: CallJSON | StreamCallJSON | None = Field(
        None, description="the analysis JSON once status is done (docs/analysis.md), null before")


class CallList(BaseModel):
    items: list[CallItem]
    total: int
    limit: int
    offset: int


class SegmentRecord(BaseModel):
    """A segment as kept in the database."""

    start: float
    end: float
    speaker: str | None = None
    role: str | None = None
    emotion: str | None = None
    confidence: float | None = None
    valence: float | None = None
    arousal: float | None = None
    text: str | None = Field(None, description="the segment's transcript (redacted), when the call was transcribed")


class ModelStatus(BaseModel):
    loaded: bool
    path: str = Field(..., description="'default' or the model folder's name")
    type: str | None = None
    labels: list[str] | None = None
    sample_rate: int | None = None
    error: str | None = None


class Health(BaseModel):
    """Without the API token (when one is set) only ``status`` is given."""

    status: Literal["ok"] = "ok"
    version: str | None = None
    model: ModelStatus | None = None
    queue: int | None = None
    analysing: str | None = None
    calls: dict[str, int] | None = None


class ErrorDetail(BaseModel):
    detail: str
