"""The one options object of an analysis: parsed once, used by the CLI, batch, service and stream.

:class:`AnalysisOptions` holds every setting of a call analysis (channels, speakers, first
speaker, silence compression, VAD, which roles get emotions, review and alert thresholds). Its
validators accept the string forms users type (``"agent,client"``, ``"mono"``, ``"auto"``,
``"3"``), so ``AnalysisOptions(channels="agent,client", speakers="auto")`` is how every front
end builds it; a bad value raises :class:`pydantic.ValidationError` naming the field, or use
:func:`parse_options` for a :class:`OptionsError` with one readable line.

Thresholds live here once: :class:`ReviewRules` (the ``needs_review`` rules of a file analysis)
and :class:`AlertRules` (live alerts) share :class:`EmotionThresholds` (what counts as strongly
negative valence, which emotions count as "strong", and at what confidence).

Why ``emotions="client"`` is the default: in the EU, AI systems that infer the emotions of a
natural person in the workplace are prohibited (AI Act, Regulation (EU) 2024/1689,
Art. 5(1)(f)); a call-centre agent is at work, the customer is not (inferring the customer's
emotions is allowed, as a high-risk use). So by default agent speech gets turns and talk time but
no emotion predictions; ``emotions="all"`` analyses both roles where that is lawful (e.g. the
agents' explicit use outside the EU, or a research corpus of actors).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import CallemoError
from ..prep.roles import channel_roles
from ..prep.vad import VADSettings

__all__ = [
    "MAX_SPEAKERS",
    "AlertRules",
    "AnalysisOptions",
    "EmotionThresholds",
    "OptionsError",
    "ReviewRules",
    "VADSettings",
    "parse_options",
]

Role = Literal["agent", "client"]
ROLES: tuple[str, ...] = ("agent", "client")
#: the most speakers a mono call may be diarized into
MAX_SPEAKERS = 10


class OptionsError(CallemoError, ValueError):
    """Bad analysis options (the message names the option and the problem)."""


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    if isinstance(value, (list, tuple)):
        if not all(isinstance(c, str) for c in value):
            raise ValueError(f"must be names, not {value!r}")
        return [c.strip() for c in value]
    raise ValueError(f"must be names such as 'agent,client', not {value!r}")


class EmotionThresholds(_Options):
    """The thresholds the review rules and the live alerts share."""

    #: a valence at or below this is strongly negative (review: negative moments; alerts: low valence)
    negative_valence: float = Field(default=-0.3, ge=-1.0, le=1.0, allow_inf_nan=False,
                                    validation_alias=AliasChoices("negative_valence", "valence_threshold"))
    #: emotions that count as strong (review: "strong anger"; alerts: ``emotion`` alerts)
    emotions: tuple[str, ...] = ("angry", "anger", "annoyed", "frustrated")
    #: ...when predicted with at least this confidence
    emotion_confidence: float = Field(default=0.6, ge=0.0, le=1.0, allow_inf_nan=False,
                                      validation_alias=AliasChoices("emotion_confidence", "anger_confidence"))

    @field_validator("emotions", mode="before")
    @classmethod
    def _emotions(cls, v: Any) -> tuple[str, ...]:
        return tuple(n.lower() for n in _names(v))


class ReviewRules(EmotionThresholds):
    """Thresholds of the ``needs_review`` rules of a call (documented in docs/analysis.md)."""

    #: the client's mean valence over the last third of their speech at or below this -> "client ends negative"
    end_valence: float = Field(default=-0.25, ge=-1.0, le=1.0, allow_inf_nan=False)
    #: the client's trend (end - start) at or below minus this -> "client's mood worsened"
    worsening: float = Field(default=0.3, ge=0.0, le=2.0, allow_inf_nan=False)
    #: mean confidence of judged segments below this -> "low confidence"
    low_confidence: float = Field(default=0.4, ge=0.0, le=1.0, allow_inf_nan=False)
    #: diarization confidence of a mono call below this -> "speaker attribution uncertain"
    diarization_confidence: float = Field(default=0.6, ge=0.0, le=1.0, allow_inf_nan=False)
    #: share of speech time the model could not judge above this -> "mostly unjudged speech"
    unknown_share: float = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    #: a change of client valence of at least this is a direction ("improving"/"worsening")
    trend_delta: float = Field(default=0.1, ge=0.0, le=2.0, allow_inf_nan=False)
    #: how many strongest negative moments to list
    n_moments: int = Field(default=5, ge=0, le=100)


class AlertRules(EmotionThresholds):
    """When a live call raises an alert (``negative_valence`` of the smoothed valence starts a
    ``low_valence`` alert; an emotion in ``emotions`` at ``emotion_confidence`` an ``emotion`` alert)."""

    #: roles watched for alerts
    roles: tuple[Role, ...] = ("client",)
    #: time constant (seconds of speech) of the exponential smoothing of valence
    smooth: float = Field(default=10.0, gt=0.0, le=3600.0, allow_inf_nan=False)
    #: after a ``low_valence`` alert, valence must rise above negative_valence + rearm before the next one
    rearm: float = Field(default=0.1, ge=0.0, le=2.0, allow_inf_nan=False)
    #: seconds between two ``emotion`` alerts of the same role
    cooldown: float = Field(default=20.0, ge=0.0, le=86400.0, allow_inf_nan=False)

    @field_validator("roles", mode="before")
    @classmethod
    def _roles(cls, v: Any) -> tuple[str, ...]:
        return tuple(_names(v))


class AnalysisOptions(_Options):
    """Every setting of a call analysis (see the module docstring; docs/analysis.md)."""

    #: stereo channel roles in order (``["agent", "client"]``; ``None`` = channel 0 agent), or
    #: ``"mono"``: mix the channels down and diarize
    channels: list[Role] | Literal["mono"] | None = None
    #: speakers to find in a mono call, or ``"auto"``
    speakers: int | Literal["auto"] = 2
    #: role of whoever talks first in a mono call
    first_speaker: Role = "agent"
    #: silences longer than this (s) are compressed to ``target_silence`` for processing (0 = off)
    max_silence: float = Field(default=3.0, ge=0.0, allow_inf_nan=False)
    target_silence: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    #: speech detection and turn segmentation
    vad: VADSettings = VADSettings()
    #: whose emotions are inferred: "client" (default; see the module docstring) or "all"
    emotions: Literal["client", "all"] = "client"
    #: Gaussian sigma (s) of the 2 Hz curves
    smooth: float = Field(default=1.0, ge=0.0, le=60.0, allow_inf_nan=False)
    review: ReviewRules = ReviewRules()
    alerts: AlertRules = AlertRules()
    #: transcribe the segments: ``None`` = off (the default: it costs far more than the emotion analysis),
    #: ``"auto"`` = detect the call's language, or a Whisper language code (``"en"``, ``"pl"``...)
    transcribe: str | None = None
    #: speech recognition model: ``"base"`` (multilingual) or ``"tiny.en"`` (English only); ``None`` =
    #: ``tiny.en`` when ``transcribe == "en"``, else ``base``
    asr: Literal["base", "tiny.en"] | None = None
    #: replace card/account/phone numbers and e-mails in the transcript by tags (on by default: only
    #: redacted text is stored)
    redact: bool = True
    #: ...and first/last names
    redact_names: bool = False
    #: mute the redacted words' time spans in the stored audio copies (report player, service recording)
    redact_audio: bool = False

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, v: Any) -> Any:
        return channel_roles(v)

    @field_validator("speakers", mode="before")
    @classmethod
    def _speakers(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"must be a number or 'auto', not {v!r}")
        if isinstance(v, str):
            s = v.strip().lower()
            if s == "auto":
                return "auto"
            try:
                v = int(s)
            except ValueError:
                raise ValueError(f"must be a number or 'auto', not {v!r}") from None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int):
            raise ValueError(f"must be a number or 'auto', not {v!r}")
        if not 1 <= v <= MAX_SPEAKERS:
            raise ValueError(f"must be between 1 and {MAX_SPEAKERS} or 'auto', not {v}")
        return v

    @field_validator("first_speaker", "emotions", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("transcribe", mode="before")
    @classmethod
    def _transcribe(cls, v: Any) -> Any:
        if v is None or v is False:
            return None
        if v is True:
            return "auto"
        if not isinstance(v, str):
            raise ValueError(f"must be 'auto' or a language code such as 'en', not {v!r}")
        from ..text.asr import AsrError, check_language  # only when transcription is asked for

        try:
            return check_language(v) or "auto"
        except AsrError as e:
            raise ValueError(str(e)) from None

    @field_validator("asr", mode="before")
    @classmethod
    def _asr(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) and v.strip() else (None if v == "" else v)

    @model_validator(mode="after")
    def _asr_language(self) -> AnalysisOptions:
        if self.asr == "tiny.en" and self.transcribe not in (None, "auto", "en"):
            raise ValueError(f"asr: tiny.en transcribes English only, not {self.transcribe!r}; use asr 'base'")
        return self

    @property
    def asr_model(self) -> str:
        """The speech recognition model used when transcribing (see ``asr``)."""
        return self.asr or ("tiny.en" if self.transcribe == "en" else "base")

    @model_validator(mode="after")
    def _silence(self) -> AnalysisOptions:
        if self.max_silence > 0 and self.target_silence > self.max_silence:
            raise ValueError(f"target_silence ({self.target_silence} s) is longer than "
                             f"max_silence ({self.max_silence} s)")
        return self

    def infers_emotions(self, role: str) -> bool:
        """Whether segments of ``role`` get emotion predictions under these options."""
        return self.emotions == "all" or role == "client"

    def settings(self) -> dict[str, Any]:
        """A JSON-ready record of the options (written into every result)."""
        return self.model_dump(mode="json")


def _message(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith(("function-", "literal[", "list[")))
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(dict.fromkeys(parts))


def parse_options(options: AnalysisOptions | dict[str, Any] | None = None, **overrides: Any) -> AnalysisOptions:
    """An :class:`AnalysisOptions` from an instance, a dict (e.g. a service form or a stream's
    config) and/or keyword overrides (``None`` values mean "the default"); :class:`OptionsError`
    with one line per bad field otherwise."""
    base: dict[str, Any] = options.model_dump() if isinstance(options, AnalysisOptions) else dict(options or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return AnalysisOptions.model_validate(base)
    except ValidationError as e:
        raise OptionsError(f"bad analysis options: {_message(e)}") from None
