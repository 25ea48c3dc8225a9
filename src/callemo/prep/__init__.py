"""Call preparation: voice activity, silence compression, diarization, roles, segmentation.

``prepare_call(path)`` runs the whole chain; the pieces are ``vad.speech_regions``,
``silence.compress`` / ``TimeMap``, ``diarize.diarize_regions``, ``roles.assign_roles`` and
``segment.emotion_segments``. Heavy imports (torch, silero, resemblyzer) happen on first use.
"""

from __future__ import annotations

import importlib

_SUBMODULES = {"vad", "silence", "diarize", "roles", "segment", "call"}
_NAMES = {
    "prepare_call": "call", "PreparedCall": "call", "PrepError": "call",
    "TimeMap": "silence", "compress": "silence",
    "speech_regions": "vad", "channel_regions": "vad", "VADSettings": "vad",
    "assign_roles": "roles",
    "emotion_segments": "segment",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
