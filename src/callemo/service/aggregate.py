"""The service's archive view: its database's calls and segments as the DataFrames of
:mod:`callemo.report.archive`, and a search over the segments' transcripts.

Plain SQLAlchemy ``SELECT`` statements read through ``pandas.read_sql`` on the store's engine, so
the same code runs on SQLite and on PostgreSQL. Only finished calls (status ``done``) count.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import select

from ..analyze.dataset import call_record
from .storage import CallRow, SegmentRow, Store

#: the most hits one search answers
MAX_HITS = 500


def _summary_columns(raw: Any) -> dict[str, Any]:
    """The archive page's summary columns, flattened as the batch's dataset does (one owner:
    :func:`callemo.analyze.dataset.call_record`)."""
    try:
        s = json.loads(raw) if raw else {}
    except ValueError:
        s = {}
    rec = call_record("", {"summary": s})
    out = {k: rec[k] for k in ("review_reasons", "client_trend", "client_end_valence", "valence_client",
                               "most_negative_valence")}
    out["client_trend"] = out["client_trend"] or "unknown"
    return out


def archive_frames(store: Store, *, with_segments: bool = True,
                   report_prefix: str = "api/") -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(calls, segments)`` of the finished calls, in the columns the archive page reads:
    ``call_id``, ``name`` (the uploaded file name), ``date`` (upload day, UTC), ``duration``,
    ``needs_review``, ``review_reasons``, ``client_trend``, ``client_end_valence``, ``report``
    (``<report_prefix>calls/<id>/report``: relative to the page that shows it; none for live calls)."""
    q = select(CallRow.id.label("call_id"), CallRow.file_name.label("name"), CallRow.uploaded_at,
               CallRow.duration, CallRow.needs_review, CallRow.summary, CallRow.source) \
        .where(CallRow.status == "done").order_by(CallRow.uploaded_at)
    with store.engine.connect() as conn:
        calls = pd.read_sql(q, conn)
        segments = None
        if with_segments:
            sq = select(SegmentRow.call_id, SegmentRow.start, SegmentRow.end, SegmentRow.role, SegmentRow.emotion,
                        SegmentRow.valence, SegmentRow.text) \
                .join(CallRow, CallRow.id == SegmentRow.call_id).where(CallRow.status == "done") \
                .order_by(SegmentRow.call_id, SegmentRow.start)
            segments = pd.read_sql(sq, conn)
    extra = pd.DataFrame([_summary_columns(r) for r in calls["summary"]], index=calls.index,
                         columns=["review_reasons", "client_trend", "client_end_valence", "valence_client",
                                  "most_negative_valence"])
    calls = pd.concat([calls.drop(columns=["summary"]), extra], axis=1)
    calls["date"] = pd.to_datetime(calls["uploaded_at"]).dt.normalize()
    calls["needs_review"] = calls["needs_review"].fillna(False).astype(bool)
    calls["report"] = [f"{report_prefix}calls/{i}/report" if src != "stream" else None
                       for i, src in zip(calls["call_id"], calls["source"])]
    return calls, segments


def search_segments(store: Store, q: str | None = None, *, role: str | None = None, emotion: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
    """Segments of finished calls whose transcript contains ``q`` (case-insensitive; ``%`` and
    ``_`` are plain characters), optionally of one ``role`` and ``emotion``; newest calls first."""
    limit = max(1, min(int(limit), MAX_HITS))
    stmt = select(SegmentRow.call_id, CallRow.file_name, CallRow.uploaded_at, SegmentRow.start, SegmentRow.end,
                  SegmentRow.role, SegmentRow.emotion, SegmentRow.confidence, SegmentRow.valence, SegmentRow.text) \
        .join(CallRow, CallRow.id == SegmentRow.call_id).where(CallRow.status == "done")
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(SegmentRow.text.is_not(None), SegmentRow.text.ilike(pattern, escape="\\"))
    if role:
        stmt = stmt.where(SegmentRow.role == role)
    if emotion:
        stmt = stmt.where(SegmentRow.emotion == emotion)
    stmt = stmt.order_by(CallRow.uploaded_at.desc(), SegmentRow.call_id, SegmentRow.start).limit(limit)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [{"call_id": r["call_id"], "file_name": r["file_name"],
             "uploaded_at": r["uploaded_at"].replace(microsecond=0).isoformat() + "Z" if r["uploaded_at"] else None,
             **{k: r[k] for k in ("start", "end", "role", "emotion", "confidence", "valence", "text")}}
            for r in rows]


__all__ = ["MAX_HITS", "archive_frames", "search_segments"]
