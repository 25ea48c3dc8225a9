"""Storage of the service: a SQL database of calls and their segments, and a folder of files.

Tables (SQLAlchemy 2.x; SQLite by default, PostgreSQL through ``postgresql+psycopg://``; the
schema is versioned with Alembic, :mod:`callemo.service.migrations`, and upgraded when a
:class:`Store` opens the database):

* ``calls``: ``id`` (32 hex chars), ``file_name`` (as uploaded), ``uploaded_at`` (UTC),
  ``status`` (``queued`` | ``running`` | ``done`` | ``failed``), ``error``, ``duration`` (s),
  ``summary`` (the call summary, JSON), ``needs_review``, ``review_reason``, ``options``
  (the analysis options, JSON), ``source`` (``upload`` | ``stream``), ``started_at``,
  ``finished_at``, ``claimed_by`` (the service process analysing it, or that analysed it) and
  ``lease_until`` (UTC: until when that claim holds without a heartbeat).
* ``segments``: ``call_id``, ``start``, ``end``, ``speaker``, ``role``, ``emotion``,
  ``confidence``, ``valence``, ``arousal``, ``text`` (the segment's redacted transcript, when
  the call was transcribed) (one row per analysed segment, times in seconds of the original
  recording; deleted with their call).

Several service processes may share one database (and one storage folder): a process takes a
queued call with :meth:`Store.claim` (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
compare-and-set ``UPDATE ... WHERE status = 'queued'`` on both), keeps its lease alive with
:meth:`Store.renew` and stores the outcome with :meth:`Store.finish`, which only the holder of
the claim can do. A claim whose lease ran out (its process died) is taken again by the next
:meth:`Store.claim`.

Files live under the storage folder: ``audio/<id>/recording.<ext>`` (the uploaded recording; its
name is in the database), ``results/<id>.json|.csv|.png|.html`` (written atomically by
``callemo.analyze.write_outputs``) and ``tmp/`` (uploads being received). The folders are created
``0700`` and the files and the SQLite database ``0600``: recordings, reports (which embed the
audio) and the database are readable by the service's user only. At start-up :meth:`Store.clean_start`
removes partial uploads and orphans left by a crash, but only those untouched for a while: another
process sharing the folder may be receiving an upload right now.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    and_,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from ..errors import CallemoError
from ..io.files import TMP_PREFIX, atomic_write_text

STATUSES = ("queued", "running", "done", "failed")
DEFAULT_DB = "sqlite:///callemo.db"
#: the most rows one listing may skip (an offset is an SQL integer: 2**63 overflows it)
MAX_OFFSET = 10**9
DIR_MODE = 0o700
FILE_MODE = 0o600
#: partial uploads and temporary files untouched this long (s) are a crash's leftovers
TMP_GRACE_S = 3600.0
#: recordings and results of no call, untouched this long (s), are a crash's leftovers
ORPHAN_GRACE_S = 600.0


def _shown(db_url: str) -> str:
    """A database URL as it may be shown: without its password."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(malformed URL)"


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


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
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

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
    text: Mapped[str | None] = mapped_column(Text, nullable=True)

    call: Mapped[CallRow] = relationship(back_populates="segments")


_JSON_FIELDS = ("summary", "options")
SEGMENT_FIELDS = ("start", "end", "speaker", "role", "emotion", "confidence", "valence", "arousal", "text")
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
    return {k: getattr(row, k) for k in SEGMENT_FIELDS}


def _segment_rows(call_id: str, records: Iterable[dict[str, Any]]) -> builtins.list[SegmentRow]:
    return [SegmentRow(call_id=call_id, **{k: r.get(k) for k in SEGMENT_FIELDS}) for r in records]


def _json_values(fields: dict[str, Any]) -> dict[str, Any]:
    bad = set(fields) - _UPDATABLE
    if bad:
        raise KeyError(f"cannot update {sorted(bad)}")
    if "status" in fields and fields["status"] not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {fields['status']!r}")
    return {k: json.dumps(v, allow_nan=False) if k in _JSON_FIELDS and v is not None and not isinstance(v, str) else v
            for k, v in fields.items()}


def _changed(s: Session, statement: Any) -> int:
    """Execute an ``UPDATE``; the number of rows it changed."""
    result = s.execute(statement)
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _claimable(now: dt.datetime) -> ColumnElement[bool]:
    """Calls a process may take: queued ones, and running ones whose claim lapsed (or never had a
    lease: left by a callemo from before the leases)."""
    return or_(CallRow.status == "queued",
               and_(CallRow.status == "running", or_(CallRow.lease_until.is_(None), CallRow.lease_until < now)))


class Store:
    """Calls and segments in a database, files in ``storage_dir``.

    ``Store(db_url, storage_dir)``; ``add(file_name, ...) -> dict``, ``get(id) -> dict | None``,
    ``list(needs_review=None, status=None, limit=50, offset=0) -> (items, total)``,
    ``update(id, **fields) -> dict``, ``set_segments(id, records)``, ``segments(id)``,
    ``delete(id) -> bool``; the job queue: ``claim(worker, lease_s) -> dict | None``,
    ``renew(id, worker, lease_s) -> bool``, ``finish(id, worker, segments=None, **fields) -> bool``,
    ``release(worker) -> int``. Every method opens its own session, so the store can be shared by
    the web threads and the analysis worker, and several processes can share the database.
    ``store.engine`` is the SQLAlchemy engine (other readers, e.g. the dashboard's aggregates, query
    the tables through it).
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
        else:
            kw["pool_pre_ping"] = True  # a server restart does not break the service's pooled connections
        try:
            self.engine = create_engine(db_url, **kw)
        except (ArgumentError, ImportError) as e:  # a malformed URL, or its driver is not installed
            hint = " (PostgreSQL: pip install 'callemo[postgres]', URL postgresql+psycopg://...)" \
                if "postgres" in db_url else ""
            raise CallemoError(f"database {_shown(db_url)}: {_first_line(e)}{hint}") from None
        if db_url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(conn, _record):  # foreign keys (cascade) and concurrent readers
                cur = conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()
        from .migrations import upgrade

        try:
            upgrade(self.engine)
        except OperationalError as e:  # no server, wrong password, no such database, a read-only file
            self.engine.dispose()
            raise CallemoError(f"cannot open the database {_shown(db_url)}: {_first_line(e.orig or e)}") from None
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
        values = _json_values(fields)
        with self._lock, self._session() as s, s.begin():
            row = s.get(CallRow, call_id)
            if row is None:
                raise KeyError(call_id)
            for k, v in values.items():
                setattr(row, k, v)
        return call_dict(row)

    # -- the job queue ------------------------------------------------------------------------
    def claim(self, worker: str, lease_s: float) -> dict[str, Any] | None:
        """Take the oldest queued call (or one whose claim lapsed) for ``worker``: it becomes
        ``running``, ``claimed_by = worker``, leased for ``lease_s`` seconds. None when there is none.

        Safe between processes: PostgreSQL locks the chosen row (``FOR UPDATE SKIP LOCKED``: a
        concurrent claim skips it and takes the next), and on every backend the ``UPDATE`` only
        changes a row that is still claimable (compare-and-set), so a call is never taken twice."""
        while True:
            now = _now()
            with self._lock, self._session() as s, s.begin():
                call_id = s.scalar(select(CallRow.id).where(_claimable(now))
                                   .order_by(CallRow.uploaded_at, CallRow.id).limit(1)
                                   .with_for_update(skip_locked=True))
                if call_id is None:
                    return None
                took = _changed(s, update(CallRow).where(CallRow.id == call_id, _claimable(now)).values(
                    status="running", claimed_by=worker, lease_until=now + dt.timedelta(seconds=lease_s),
                    started_at=now, error=None))
            if took:
                return self.get(call_id)
            # another process took it between the SELECT and the UPDATE (SQLite): try the next one

    def renew(self, call_id: str, worker: str, lease_s: float) -> bool:
        """Extend ``worker``'s claim on a call (its heartbeat); False when the claim is lost."""
        with self._lock, self._session() as s, s.begin():
            n = _changed(s, update(CallRow).where(CallRow.id == call_id, CallRow.claimed_by == worker,
                                                  CallRow.status == "running")
                         .values(lease_until=_now() + dt.timedelta(seconds=lease_s)))
        return bool(n)

    def finish(self, call_id: str, worker: str, segments: Iterable[dict[str, Any]] | None = None,
               **fields: Any) -> bool:
        """Store the outcome of ``worker``'s analysis (``fields``: status, summary, ...; ``segments``:
        the call's segment records) in one transaction, if ``worker`` still holds the claim. False
        (nothing written) when it does not: the call was deleted, or its lease lapsed and another
        process took it."""
        values = _json_values(fields)
        with self._lock, self._session() as s, s.begin():
            n = _changed(s, update(CallRow).where(CallRow.id == call_id, CallRow.claimed_by == worker,
                                                  CallRow.status == "running")
                         .values(lease_until=None, **values))
            if n and segments is not None:
                s.execute(delete(SegmentRow).where(SegmentRow.call_id == call_id))
                s.add_all(_segment_rows(call_id, segments))
        return bool(n)

    def release(self, worker: str) -> int:
        """Put the calls ``worker`` is analysing back in the queue (a process stopping mid-analysis)."""
        with self._lock, self._session() as s, s.begin():
            return _changed(s, update(CallRow).where(CallRow.claimed_by == worker, CallRow.status == "running")
                            .values(status="queued", claimed_by=None, lease_until=None, started_at=None))

    def claims(self) -> builtins.list[tuple[str, str]]:
        """``(call id, worker)`` of the calls being analysed under a live lease."""
        with self._session() as s:
            rows = s.execute(select(CallRow.id, CallRow.claimed_by).where(
                CallRow.status == "running", CallRow.claimed_by.is_not(None), CallRow.lease_until >= _now())).all()
            return [(r[0], str(r[1])) for r in rows]

    def claimable_ids(self) -> builtins.list[str]:
        """Calls waiting for a process: queued, or running with a lapsed claim."""
        with self._session() as s:
            return list(s.scalars(select(CallRow.id).where(_claimable(_now())).order_by(CallRow.uploaded_at)).all())

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
        """Replace a call's segments with ``records`` (dicts with the segment columns; ``text``,
        the transcript, where the call was transcribed)."""
        rows = _segment_rows(call_id, records)
        with self._lock, self._session() as s, s.begin():
            s.execute(delete(SegmentRow).where(SegmentRow.call_id == call_id))
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

    def clean_start(self, *, tmp_grace_s: float = TMP_GRACE_S, orphan_grace_s: float = ORPHAN_GRACE_S
                    ) -> dict[str, int]:
        """At start-up: remove partial uploads (``tmp/``), temporary files of interrupted writes,
        and recordings or results that belong to no call (a crash between writing and recording);
        only those untouched for ``tmp_grace_s`` / ``orphan_grace_s`` seconds, as another process
        sharing the storage folder may be writing them right now."""
        removed = {"partial_uploads": 0, "orphans": 0}
        now = time.time()

        def idle(p: Path, grace: float) -> bool:
            try:
                times = [p.lstat().st_mtime] + ([f.lstat().st_mtime for f in p.iterdir()]
                                                if p.is_dir() and not p.is_symlink() else [])
            except OSError:
                return False  # gone meanwhile
            return now - max(times) >= grace

        for f in self.tmp_dir.iterdir():
            if not idle(f, tmp_grace_s):
                continue
            if f.is_dir() and not f.is_symlink():
                shutil.rmtree(f, ignore_errors=True)
            else:
                f.unlink(missing_ok=True)
            removed["partial_uploads"] += 1
        with self._session() as s:
            known = set(s.scalars(select(CallRow.id)).all())
        for d in self.audio_dir.iterdir():
            if d.name not in known and idle(d, orphan_grace_s):
                if d.is_dir() and not d.is_symlink():
                    shutil.rmtree(d, ignore_errors=True)
                else:
                    d.unlink(missing_ok=True)
                removed["orphans"] += 1
        for f in self.results_dir.iterdir():
            if ((f.name.startswith(TMP_PREFIX) and idle(f, tmp_grace_s))
                    or (f.name.split(".", 1)[0] not in known and idle(f, orphan_grace_s))):
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
