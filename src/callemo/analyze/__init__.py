"""Call analysis: one recording -> segments with emotions, 2 Hz valence/arousal curves, summary.

``analyze_file(path, model=None, ...) -> CallResult`` (``.segments``, ``.curves``, ``.summary``,
``.to_dict()``); ``analyze_batch(paths, out_dir, jobs=N)`` for archives. Heavy imports stay
inside the functions.
"""

from .pipeline import CallResult, analyze_file, analyze_prepared, predict_segments

__all__ = ["CallResult", "analyze_file", "analyze_prepared", "predict_segments", "analyze_batch", "write_outputs"]


def __getattr__(name):
    if name in ("analyze_batch", "write_outputs", "rebuild_summary"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(name)
