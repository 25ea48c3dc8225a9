"""Storage of the service: a SQL database of calls and their segments, and a folder of files.

Tables (SQLAlchemy 2.x, SQLite by default, any SQLAlchemy URL works):

* ``calls``: ``id`` (32 hex chars), ``file_name`` (as uploaded), ``uploaded_at`` (UTC),
  ``status`` (``queued`` | ``running`` | ``done`` | ``failed``), ``error``, ``duration`` (s),
  ``summary`` (the call summary, JSON), ``needs_review``, ``review_reason``, ``options``
  (the analysis options, JSON), ``source`` (``upload`` | ``stream``), ``started_at``,
  ``finished_at``.
* ``segments``: ``call_id``, ``start``, ``end``, ``speaker``, ``role``, ``emotion``,
  ``confidence``, ``valence``, ``arousal`` (one row per analysed segment, times in seconds of
  the original recording; deleted with their call).

Files live under the storage folder: ``audio/<id>/recording.<ext>`` (the uploaded recording; its
name is in the database), ``results/<id>.json|.csv|.png|.html`` (written atomically by
``callemo.analyze.write_outputs``) and ``tmp/`` (uploads being received). The folders are created
``0700`` and the files and the SQLite database ``0600``: recordings, reports (which embed the
audio) and the database are readable by the service's user only.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from ..io.files import TMP_PREFIX, atomic_write_text

STATUSES = ("queued", "running", "done", "failed")
DEFAULT_DB = "sqlite:///callemo.db"
#: the most rows one listing may skip (an offset is an SQL integer: 2**63 overflows it)
MAX_OFFSET = 10**9
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it ``0700``."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


class Base(DeclarativeBase):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class CallRow(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(512))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON text
    needs_review: Mapped[bool | None] = mapped_column(Boolean, nullable=True, index=True)
    review_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    options: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON text
    source: Mapped[str] = mapped_column(String(16), default="upload")
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    segments: Mapped[list[SegmentRow]] = relationship(
        back_populates="call", cascade="all, delete-orphan", passive_deletes=True, order_by="SegmentRow.start")


class SegmentRow(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    speaker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    emotion: Mapped[str | None] = mapped_column(String(32), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    valence: Mapped[float | None] = mapped_column(Float, nullable=True)
    arousal: Mapped[float | None] = mapped_column(Float, nullable=True)

    call: Mapped[CallRow] = relationship(back_populates="segments")


_JSON_FIELDS = ("summary", "options")
_UPDATABLE = {"file_name", "status", "error", "duration", "summary", "needs_review", "review_reason", "options",
              "source", "started_at", "finished_at"}


def call_dict(row: CallRow) -> dict[str, Any]:
    """A call row as plain JSON-ready data (summary and options decoded)."""
    d: dict[str, Any] = {
        "id": row.id,
        "file_name": row.file_name,
        "uploaded_at": _iso(row.uploaded_at),
        "status": row.status,
        "error": row.error,
        "duration": row.duration,
        "needs_review": row.needs_review,
        "review_reason": row.review_reason,
        "source": row.source,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
    }
    for k in _JSON_FIELDS:
        raw = getattr(row, k)
        d[k] = json.loads(raw) if raw else None
    return d


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.replace(microsecond=0).isoformat() + "Z"


def segment_dict(row: SegmentRow) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("start", "end", "speaker", "role", "emotion", "confidence", "valence",
                                          "arousal")}


class Store:
    """Calls and segments in a database, files in ``storage_dir``.

    ``Store(db_url, storage_dir)``; ``add(file_name, ...) -> dict``, ``get(id) -> dict | None``,
    ``list(needs_review=None, status=None, limit=50, offset=0) -> (items, total)``,
    ``update(id, **fields) -> dict``, ``set_segments(id, records)``, ``segments(id)``,
    ``delete(id) -> bool``. Every method opens its own session, so the store can be shared by
    the web threads and the analysis worker.
    """

    def __init__(self, db_url: str = DEFAULT_DB, storage_dir: str | os.PathLike = "callemo-storage"):
        self.db_url = db_url
        self.storage_dir = Path(storage_dir)
        self.audio_dir = self.storage_dir / "audio"
        self.results_dir = self.storage_dir / "results"
        self.tmp_dir = self.storage_dir / "tmp"
        for d in (self.storage_dir, self.audio_dir, self.results_dir, self.tmp_dir):
            private_dir(d)
        db_file: Path | None = None
        kw: dict[str, Any] = {}
        if db_url.startswith("sqlite"):
            kw["connect_args"] = {"check_same_thread": False}
            path = db_url.split("///", 1)[-1] if "///" in db_url else ""
            if path and path != ":memory:":
                db_file = Path(path)
                db_file.parent.mkdir(parents=True, exist_ok=True)
                if not db_file.exists():  # SQLite creates its journal files with the database's mode
                    db_file.touch(mode=FILE_MODE)
            if path in ("", ":memory:"):
                from sqlalchemy.pool import StaticPool

                kw["poolclass"] = StaticPool  # one shared in-memory database for every thread
        self.engine = create_engine(db_url, **kw)
        if db_url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(conn, _record):  # foreign keys (cascade) and concurrent readers
                cur = conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()
        Base.metadata.create_all(self.engine)
        if db_file is not None:
            os.chmod(db_file, FILE_MODE)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._lock = threading.Lock()  # serialises writes (SQLite allows one writer)

    # -- calls --------------------------------------------------------------------------------
    def add(self, file_name: str, *, options: dict | None = None, status: str = "queued", source: str = "upload",
            call_id: str | None = None, duration: float | None = None) -> dict[str, Any]:
        row = CallRow(id=call_id or uuid.uuid4().hex, file_name=str(file_name), status=status, source=source,
                      options=json.dumps(options) if options is not None else None, uploaded_at=_now(),
                      duration=duration)
        with self._lock, self._session() as s, s.begin():
            s.add(row)
        return call_dict(row)

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.get(CallRow, call_id)
            return None if row is None else call_dict(row)

    def list(self, *, needs_review: bool | None = None, status: str | None = None, limit: int = 50,
             offset: int = 0) -> tuple[builtins.list[dict[str, Any]], int]:
        """Calls, newest first, and the total count matching the filters."""
        limit, offset = max(0, min(int(limit), 10_000)), max(0, min(int(offset), MAX_OFFSET))
        q = select(CallRow)
        if needs_review is not None:
            q = q.where(CallRow.needs_review.is_(bool(needs_review)))
        if status is not None:
            q = q.where(CallRow.status == status)
        with self._session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(CallRow.uploaded_at.desc(), CallRow.id).limit(limit).offset(offset)).all()
            return [call_dict(r) for r in rows], int(total)

    def ids_with_status(self, statuses: Iterable[str]) -> builtins.list[str]:
        with self._session() as s:
            return list(s.scalars(select(CallRow.id).where(CallRow.status.in_(list(statuses)))
                                  .order_by(CallRow.uploaded_at)).all())

    def update(self, call_id: str, **fields: Any) -> dict[str, Any]:
        bad = set(fields) - _UPDATABLE
        if bad:
            raise KeyError(f"cannot update {sorted(bad)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {fields['status']!r}")
        with self._lock, self._session() as s, s.begin():
            row = s.get(CallRow, call_id)
            if row is None:
                raise KeyError(call_id)
            for k, v in fields.items():
                if k in _JSON_FIELDS and v is not None and not isinstance(v, str):
                    v = json.dumps(v, allow_nan=False)
                setattr(row, k, v)
        return call_dict(row)

    def delete(self, call_id: str) -> bool:
        """Remove a call, its segments and its files; False when there was no such call."""
        with self._lock, self._session() as s, s.begin():
            row = s.get(CallRow, call_id)
            if row is None:
                return False
            s.delete(row)
        self.delete_files(call_id)
        return True

    def delete_files(self, call_id: str) -> None:
        """Remove a call's recording and result files."""
        for f in self.results_dir.glob(f"{call_id}.*"):
            f.unlink(missing_ok=True)
        d = self.audio_dir / call_id
        if d.is_dir():
            shutil.rmtree(d, ignore_errors=True)

    # -- segments -----------------------------------------------------------------------------
    def set_segments(self, call_id: str, records: Iterable[dict[str, Any]]) -> int:
        """Replace a call's segments with ``records`` (dicts with the segment columns)."""
        keys = ("start", "end", "speaker", "role", "emotion", "confidence", "valence", "arousal")
        rows = [SegmentRow(call_id=call_id, **{k: r.get(k) for k in keys}) for r in records]
        with self._lock, self._session() as s, s.begin():
            s.query(SegmentRow).filter(SegmentRow.call_id == call_id).delete()
            s.add_all(rows)
        return len(rows)

    def segments(self, call_id: str) -> builtins.list[dict[str, Any]]:
        with self._session() as s:
            rows = s.scalars(select(SegmentRow).where(SegmentRow.call_id == call_id).order_by(SegmentRow.start)).all()
            return [segment_dict(r) for r in rows]

    # -- files --------------------------------------------------------------------------------
    def protect(self, *paths: str | os.PathLike[str]) -> None:
        """Make files readable by the service's user only (``0600``)."""
        for p in paths:
            os.chmod(p, FILE_MODE)

    def write_result(self, call_id: str, doc: dict[str, Any]) -> Path:
        """Write a call's analysis JSON atomically (``0600``)."""
        p = atomic_write_text(self.result_path(call_id, "json"), json.dumps(doc, indent=1, allow_nan=False))
        self.protect(p)
        return p

    def recording_path(self, call_id: str, ext: str) -> Path:
        """Where an upload's recording is kept: ``audio/<id>/recording<ext>`` (its folder made ``0700``)."""
        return private_dir(self.audio_dir / call_id) / f"recording{ext}"

    def clean_start(self) -> dict[str, int]:
        """At start-up: remove partial uploads (``tmp/``), temporary files of interrupted writes,
        and recordings or results that belong to no call (a crash between writing and recording)."""
        removed = {"partial_uploads": 0, "orphans": 0}
        for f in self.tmp_dir.iterdir():
            if f.is_dir() and not f.is_symlink():
                shutil.rmtree(f, ignore_errors=True)
            else:
                f.unlink(missing_ok=True)
            removed["partial_uploads"] += 1
        with self._session() as s:
            known = set(s.scalars(select(CallRow.id)).all())
        for d in self.audio_dir.iterdir():
            if d.name not in known:
                if d.is_dir() and not d.is_symlink():
                    shutil.rmtree(d, ignore_errors=True)
                else:
                    d.unlink(missing_ok=True)
                removed["orphans"] += 1
        for f in self.results_dir.iterdir():
            if f.name.startswith(TMP_PREFIX) or f.name.split(".", 1)[0] not in known:
                f.unlink(missing_ok=True)
                removed["orphans"] += 1
        return removed

    def audio_path(self, call_id: str) -> Path | None:
        """The uploaded recording, stored as ``audio/<id>/recording.<ext>``."""
        d = self.audio_dir / call_id
        hits = sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []
        return hits[0] if hits else None

    def result_path(self, call_id: str, ext: str = "json") -> Path:
        return self.results_dir / f"{call_id}.{ext}"

    def result(self, call_id: str) -> dict[str, Any] | None:
        """The analysis JSON of a finished call, or None."""
        p = self.result_path(call_id, "json")
        if not p.exists():
            return None
        return json.loads(p.read_text(encoding="utf-8"))

    def close(self) -> None:
        self.engine.dispose()
