"""Call analysis: one recording -> segments with emotions, 2 Hz valence/arousal curves, summary.

``callemo.analyze(path_or_array, sample_rate=None, model=None, **options) -> CallResult`` (this
package is callable: :func:`analyze`); ``analyze_file`` is the same function;
``analyze_batch(paths, out_dir, jobs=N)`` for archives. Options: :class:`AnalysisOptions`.
Heavy imports stay inside the functions.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .options import AnalysisOptions, parse_options
from .pipeline import CallResult, analyze_file, analyze_prepared, predict_segments

__all__ = [
    "AnalysisOptions",
    "CallResult",
    "analyze",
    "analyze_batch",
    "analyze_file",
    "analyze_prepared",
    "parse_options",
    "predict_segments",
    "write_outputs",
]


def analyze(path_or_array: Any, sample_rate: int | None = None, *, model: Any = None, **options: Any) -> CallResult:
    """Analyse one call: a file path, or samples (1-D mono or ``(channels, samples)``) with
    ``sample_rate``. ``model``: ``None`` (the default model), a model directory or an
    ``EmotionModel``; ``options``: :class:`AnalysisOptions` fields (``channels="agent,client"``,
    ``speakers="auto"``, ``emotions="all"``...) or ``options=AnalysisOptions(...)``."""
    return analyze_file(path_or_array, sample_rate=sample_rate, model=model, **options)


def __getattr__(name: str) -> Any:
    if name in ("analyze_batch", "write_outputs", "rebuild_summary"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(name)


class _CallablePackage(types.ModuleType):
    """``callemo.analyze`` is both this package and the function :func:`analyze`: importing a
    submodule (``callemo.analyze.pipeline``) rebinds ``callemo.analyze`` to the package, so the
    package itself answers the call."""

    def __call__(self, path_or_array: Any, sample_rate: int | None = None, **kw: Any) -> CallResult:
        return analyze(path_or_array, sample_rate, **kw)


sys.modules[__name__].__class__ = _CallablePackage
