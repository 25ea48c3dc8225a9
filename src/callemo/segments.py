"""The one data model that flows through callemo.

A *segment table* is a :class:`pandas.DataFrame` indexed by ``(file, start, end)``
(seconds, the audformat convention). Stages add columns to it:

* preparation: ``speaker``, ``role`` (``agent`` / ``client`` / ``unknown``), ``channel``,
  ``overlap`` (bool);
* predictions: ``emotion``, ``confidence``, ``p_<label>`` class probabilities, ``valence``,
  ``arousal``;
* manifests (training data): ``emotion``, ``valence``, ``arousal``, ``gender`` and any
  context column.

:func:`to_table` builds one from records (dicts with ``file``, ``start``, ``end``...). Interval
algebra on ``(start, end)`` lists (union, intersection) is ``pyannote.core``'s ``Timeline``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pyannote.core import Segment, Timeline

INDEX = ["file", "start", "end"]
ROLES = ("agent", "client", "unknown")
PROB_PREFIX = "p_"


def empty_table(columns: Iterable[str] = ()) -> pd.DataFrame:
    """An empty segment table with the standard index."""
    idx = pd.MultiIndex.from_arrays([[], np.array([], float), np.array([], float)], names=INDEX)
    return pd.DataFrame(index=idx, columns=list(columns))


def to_table(segments: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Build a segment table from records (dicts with ``file``, ``start``, ``end`` and any columns)."""
    records = [dict(s) for s in segments]
    if not records:
        return empty_table(["speaker", "role", "channel"])
    df = pd.DataFrame.from_records(records)
    return set_index(df)


def set_index(df: pd.DataFrame) -> pd.DataFrame:
    """Put a frame with ``file``, ``start``, ``end`` columns on the standard index, sorted."""
    missing = [c for c in INDEX if c not in df.columns]
    if missing:
        raise ValueError(f"segment table needs columns {INDEX}; missing {missing}")
    df = df.copy()
    df["file"] = df["file"].astype(str)
    df["start"] = df["start"].astype(float)
    df["end"] = df["end"].astype(float)
    return df.set_index(INDEX).sort_index()


def durations(df: pd.DataFrame) -> pd.Series:
    """Duration in seconds of every segment of a table."""
    return pd.Series(
        df.index.get_level_values("end") - df.index.get_level_values("start"), index=df.index
    )


def timeline(iv: Iterable[tuple[float, float]] | np.ndarray) -> Timeline:
    """A ``pyannote.core.Timeline`` of ``(start, end)`` pairs (empty intervals dropped)."""
    return Timeline([Segment(float(s), float(e)) for s, e in iv if e > s])


def merge_intervals(iv: Iterable[tuple[float, float]] | np.ndarray) -> list[tuple[float, float]]:
    """Union of intervals as sorted, disjoint ``(start, end)`` pairs (touching ones joined)."""
    return [(float(x.start), float(x.end)) for x in timeline(iv).support()]


def intersect_intervals(a: Iterable[tuple[float, float]], b: Iterable[tuple[float, float]],
                        min_dur: float = 0.0) -> list[tuple[float, float]]:
    """Pieces (not empty, at least ``min_dur`` long) that two unions of intervals share."""
    shared = timeline(a).support().crop(timeline(b).support(), mode="intersection")
    return [(float(x.start), float(x.end)) for x in shared if x.end - x.start >= min_dur]


def probability_columns(df: pd.DataFrame) -> list[str]:
    """The ``p_<label>`` columns of a prediction table, in order."""
    return [c for c in df.columns if c.startswith(PROB_PREFIX)]


def add_probabilities(
    df: pd.DataFrame, proba: np.ndarray, labels: list[str], *, unknown_mask: np.ndarray | None = None
) -> pd.DataFrame:
    """Add ``p_<label>``, ``emotion`` and ``confidence`` columns from a probability matrix.

    Rows in ``unknown_mask`` get NaN probabilities, emotion ``unknown`` and confidence 0: a
    segment the model cannot judge is never given a fabricated confident prediction.
    """
    df = df.copy()
    proba = np.asarray(proba, dtype=float)
    if proba.shape != (len(df), len(labels)):
        raise ValueError(f"probabilities of shape {proba.shape} do not fit {len(df)} rows x {len(labels)} labels")
    mask = np.zeros(len(df), bool) if unknown_mask is None else np.asarray(unknown_mask, bool)
    for j, lab in enumerate(labels):
        col = proba[:, j].copy()
        col[mask] = np.nan
        df[PROB_PREFIX + lab] = col
    best = proba.argmax(axis=1) if len(df) else np.array([], int)
    emo = np.array([labels[i] for i in best], dtype=object) if len(df) else np.array([], dtype=object)
    conf = proba.max(axis=1) if len(df) else np.array([], float)
    emo[mask] = "unknown"
    conf = np.where(mask, 0.0, conf)
    df["emotion"] = emo
    df["confidence"] = conf
    return df
