"""The one data model that flows through callemo.

A *segment table* is a :class:`pandas.DataFrame` indexed by ``(file, start, end)``
(seconds, the audformat convention). Stages add columns to it:

* preparation: ``speaker``, ``role`` (``agent`` / ``client`` / ``unknown``), ``channel``,
  ``overlap`` (bool);
* predictions: ``emotion``, ``confidence``, ``p_<label>`` class probabilities, ``valence``,
  ``arousal``;
* manifests (training data): ``emotion``, ``valence``, ``arousal``, ``gender`` and any
  context column.

:class:`Segment` is the plain-record view of one row (lhotse-style), handy for code that
builds
segments one at a time.  Use :func:`to_table` / :func:`from_table` to move between the two.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

INDEX = ["file", "start", "end"]
ROLES = ("agent", "client", "unknown")
PROB_PREFIX = "p_"


@dataclass
class Segment:
    """One stretch of one recording, in seconds of the original recording's time."""

    file: str
    start: float
    end: float
    speaker: str | None = None
    role: str | None = None
    channel: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_record(self) -> dict[str, Any]:
        rec = asdict(self)
        extra = rec.pop("extra")
        rec.update(extra)
        return rec


def empty_table(columns: Iterable[str] = ()) -> pd.DataFrame:
    """An empty segment table with the standard index."""
    idx = pd.MultiIndex.from_arrays([[], np.array([], float), np.array([], float)], names=INDEX)
    return pd.DataFrame(index=idx, columns=list(columns))


def to_table(segments: Iterable[Segment | dict]) -> pd.DataFrame:
    """Build a segment table from :class:`Segment` objects or dicts with file/start/end."""
    records = [s.to_record() if isinstance(s, Segment) else dict(s) for s in segments]
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


def from_table(df: pd.DataFrame) -> list[Segment]:
    """The rows of a segment table as :class:`Segment` records."""
    flat = df.reset_index()
    known = {"file", "start", "end", "speaker", "role", "channel"}
    out = []
    for rec in flat.to_dict("records"):
        extra = {k: v for k, v in rec.items() if k not in known}
        out.append(
            Segment(
                file=str(rec["file"]),
                start=float(rec["start"]),
                end=float(rec["end"]),
                speaker=rec.get("speaker"),
                role=rec.get("role"),
                channel=None if pd.isna(rec.get("channel", np.nan)) else int(rec["channel"]),
                extra=extra,
            )
        )
    return out


def durations(df: pd.DataFrame) -> pd.Series:
    """Duration in seconds of every segment of a table."""
    return pd.Series(
        df.index.get_level_values("end") - df.index.get_level_values("start"), index=df.index
    )


def merge_intervals(iv: Iterable[tuple[float, float]] | np.ndarray) -> list[tuple[float, float]]:
    """Union of intervals as sorted, disjoint ``(start, end)`` pairs (empty intervals dropped)."""
    pairs = sorted((float(s), float(e)) for s, e in iv if e > s)
    out: list[list[float]] = []
    for s, e in pairs:
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def intersect_intervals(a: list[tuple[float, float]], b: list[tuple[float, float]],
                        min_dur: float = 0.0) -> list[tuple[float, float]]:
    """Pieces (longer than ``min_dur``, and not empty) shared by two sorted, disjoint interval lists."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if e > s and e - s >= min_dur:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


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
