"""The first message of a live stream, validated: :class:`StreamConfig` and :class:`StreamSettings`.

Every key has a type and bounds (pydantic, strict JSON types: ``"channels": true``,
``"alerts": "x"``, ``Infinity``/``NaN`` or ``"max_segment": 1e9`` are refused with a message
naming the key), so a configuration can neither crash the stream nor make it allocate more than
a few MB. The analysis options (channels, which roles get emotions, VAD, alert thresholds) end up
in one :class:`callemo.analyze.options.AnalysisOptions`, the same object a file analysis uses.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..analyze.options import ROLES, AlertRules, AnalysisOptions, OptionsError, VADSettings, parse_options
from ..errors import CallemoError

SAMPLE_RATES = (8000, 16000)
#: the longest segment a stream may ask for (its rolling buffer is about max_segment + 7 s)
MAX_SEGMENT_LIMIT = 60.0
EXAMPLE_CONFIG = '{"sample_rate": 16000, "channels": ["agent", "client"]}'


class StreamError(CallemoError, ValueError):
    """A bad stream configuration or bad audio frame (the message names the problem)."""


class StreamSettings(VADSettings):
    """VAD and segmentation of a stream: the file analysis's :class:`VADSettings` (same keys,
    same defaults) plus what only a live stream has."""

    #: a continuing turn is reported every this many seconds
    max_segment: float = Field(4.0, ge=1.0, le=MAX_SEGMENT_LIMIT, allow_inf_nan=False)
    #: previous segments of the same speaker given with each new one to models that normalise
    #: per speaker (so the speaker statistics come from the call so far, as in the file analysis)
    context_segments: int = Field(8, ge=0, le=64)

    def vad_settings(self) -> VADSettings:
        return VADSettings(**{k: getattr(self, k) for k in VADSettings.model_fields})


def channel_names(channels: Any) -> list[str]:
    """``1`` -> ``["client"]``, ``2`` -> ``["agent", "client"]``, ``"agent,client"`` or a list of
    1-2 distinct roles -> the names; :class:`ValueError` otherwise."""
    if channels is None:
        return ["client"]
    if isinstance(channels, bool):
        raise ValueError(f"must be 1, 2 or channel names, not {channels!r}")
    if isinstance(channels, int):
        if channels in (1, 2):
            return ["client"] if channels == 1 else ["agent", "client"]
        raise ValueError(f"must be 1 or 2 channels, not {channels}")
    if isinstance(channels, str):
        channels = [c.strip() for c in channels.split(",") if c.strip()]
    if not isinstance(channels, (list, tuple)) or not all(isinstance(c, str) for c in channels):
        raise ValueError(f"must be 1, 2 or a list of channel names, not {channels!r}")
    names = [c.strip().lower() for c in channels]
    if len(names) not in (1, 2) or len(set(names)) != len(names) or any(n not in ROLES for n in names):
        raise ValueError(f"must name 1 or 2 distinct channels with {'/'.join(ROLES)}, e.g. ['agent', 'client'], "
                         f"not {channels!r}")
    return names


class StreamConfig(BaseModel):
    """A stream's configuration (its first message; docs/service.md lists the keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["config", "start"] | None = None
    sample_rate: Literal[8000, 16000] = 16000
    channels: list[str] = Field(default_factory=lambda: ["client"])
    alerts: AlertRules = Field(default_factory=lambda: AlertRules.model_validate({}))
    settings: StreamSettings = Field(default_factory=lambda: StreamSettings.model_validate({}))
    #: whose emotions are inferred: "client" (the default, see callemo.analyze.options) or "all"
    emotions: Literal["client", "all"] | None = None
    store: bool = False
    name: str = Field("live call", min_length=1, max_length=200)
    #: send a ``transcript`` event after each turn: "auto" (language detected on the first turn) or a
    #: language code; null = no transcripts (the default)
    transcribe: str | None = Field(None, max_length=8)
    #: speech recognition model: base | tiny.en (default: tiny.en for "en", else base)
    asr: Literal["base", "tiny.en"] | None = None
    #: card/account/phone numbers and e-mails in the transcript replaced by tags (default true)
    redact: bool = True
    redact_names: bool = False

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, v: Any) -> list[str]:
        return channel_names(v)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v

    @classmethod
    def parse(cls, text: str | bytes | None) -> StreamConfig:
        """The configuration from the first message's text; :class:`StreamError` naming the problem."""
        if text is None:
            raise StreamError(f"send the JSON configuration first, e.g. {EXAMPLE_CONFIG}")
        try:
            raw = json.loads(text, parse_constant=_no_constant)
        except (json.JSONDecodeError, ValueError) as e:
            raise StreamError(f"the configuration is not valid JSON ({e})") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Any) -> StreamConfig:
        if not isinstance(raw, dict):
            raise StreamError(f"the first message must be a JSON object, e.g. {EXAMPLE_CONFIG}")
        try:
            return cls.model_validate(raw, strict=True)
        except ValidationError as e:
            raise StreamError(f"bad stream configuration: {validation_message(e)}") from None

    def options(self) -> AnalysisOptions:
        """The analysis options of this stream (channels, emotions, VAD, alerts, transcripts)."""
        try:
            return parse_options(channels=list(self.channels), emotions=self.emotions, alerts=self.alerts,
                                 vad=self.settings.vad_settings(), transcribe=self.transcribe, asr=self.asr,
                                 redact=self.redact, redact_names=self.redact_names)
        except OptionsError as e:
            raise StreamError(str(e)) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send finite numbers")


def validation_message(e: ValidationError) -> str:
    """One line naming each bad key and its problem (never the offending value: it may be huge)."""
    parts = []
    for err in e.errors(include_input=False):
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith(("function-", "literal[", "list[")))
        msg = "unknown key" if err["type"] == "extra_forbidden" else str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(dict.fromkeys(parts))
