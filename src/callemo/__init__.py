"""callemo: emotional timelines for call-center recordings.

The Python API (see README, "Python API")::

    import callemo

    result = callemo.analyze("call.wav", channels="agent,client")   # a CallResult
    result.segments          # the segment table on (file, start, end): speaker, role, emotion, ...
    result.curves["client"]  # 2 Hz valence/arousal curve of a role
    result.summary.needs_review, result.to_json()
    model = callemo.load_model()                 # the default model (or load_model("my_model/"))
    model.predict(result.segments)               # emotion, confidence, p_<label> on the same index

``callemo.analyze`` is the call-analysis package, and calling it analyses one call
(:func:`callemo.analyze.analyze`). Imports are lazy: ``import callemo`` loads no numpy, torch or
model.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["AnalysisOptions", "CallResult", "EmotionModel", "__version__", "analyze", "load_model"]

_LAZY = {
    "AnalysisOptions": "callemo.analyze.options",
    "CallResult": "callemo.analyze.pipeline",
    "EmotionModel": "callemo.models.base",
}


def load_model(path: Any = None) -> Any:
    """An :class:`~callemo.models.base.EmotionModel` from a model directory (``None``: the
    default model shipped with callemo), ready for ``model.predict(table_or_signals)``."""
    from .analyze.pipeline import resolve_model

    return resolve_model(path)


def __getattr__(name: str) -> Any:
    if name == "analyze":  # the package, callable as callemo.analyze(path_or_array, **options)
        return importlib.import_module("callemo.analyze")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'callemo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
