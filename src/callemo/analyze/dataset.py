"""The results dataset of a batch: every analysed call's summary and segment table as a
partitioned Parquet dataset under ``OUT/dataset/``, for DuckDB (``callemo query``) and the
archive report (``callemo report``).

Layout (Hive partitioning by the call's date)::

    OUT/dataset/calls/date=2024-01-05/<part>.parquet      one row: the call's summary
    OUT/dataset/segments/date=2024-01-05/<part>.parquet   one row per segment

* One part per call, named from its output name (:func:`part_name`: a readable prefix and a hash
  of the name), so a redo of the call replaces its part and a resumed batch never adds a second
  one. A call whose date changed (its list's ``date`` column was edited) has its part in the old
  date removed.
* Each part is written atomically (:func:`callemo.io.files.atomic_write_bytes`: a temporary
  ``.tmp-*`` file then ``os.replace``): worker processes and Dask workers write their own calls'
  parts side by side without locks, and a reader never sees half a file (the readers skip
  ``.tmp-*`` names).
* ``date`` (the partition): the list CSV's ``date`` column when the batch came from a list that has
  one, else the UTC date of the input file's modification time (the recording date on most
  recorders' and PBXs' file stores), else the day it was analysed.
* The calls' columns (:data:`CALL_SCHEMA`) are those of ``summary.csv`` and a few more
  (``review_reasons`` as a list, talk shares, diarization confidence, language of the transcript),
  then the extra columns of the list CSV (as text; one whose name is taken gets a ``meta_`` prefix).
  The segments' columns (:data:`SEGMENT_SCHEMA`): ``call_id``, times, speaker, role, emotion,
  confidence, ``valence``, ``arousal``, ``text`` (the redacted transcript of the segment, null when
  the call was not transcribed) and one ``p_<label>`` column per label of the model.
* :func:`open_dataset` gives a DuckDB connection with the views ``calls`` and ``segments``.

Compaction (:func:`compact_dataset`; a batch runs it at its end for partitions holding at least
:data:`COMPACT_MIN_PARTS` per-call parts, ``callemo query OUT --compact`` on demand): one file per
call is what a query pays for (DuckDB reads every part's footer), so the per-call parts of a date
are merged into one ``date=D/compacted-<hash>.parquet``. Every row carries ``written_at`` (when
:func:`append_call` wrote it, kept by compaction), and the views keep, per ``call_id``, only the
rows of the one file holding its latest ``written_at`` (ties, i.e. the same rows in two files: the
first file name). Why dedup in the views rather than rewriting a compacted file on each redo:

* a redo (resume after a change, ``--force``) stays one atomic per-call write, with no lock and no
  rewrite of a large file shared with other calls, whichever worker or machine does it; its part
  is newer than the compacted rows, so it wins, and the next compaction drops the old rows;
* compaction itself needs no lock either: it writes the merged file (atomically, under a new name)
  *before* it removes the files it merged, so a crash at any point leaves each call's rows in at
  least one file and the views show them once; two compactions at once leave two files with the
  same rows, shown once and merged by the next compaction. A per-call part replaced by a redo
  while it was being merged is not removed (its inode or mtime changed), so the redo is kept.

:func:`has_parts` (the batch's "done" check) accepts a call whose rows are in a compacted file of
its date (the compacted files' ``call_id`` columns are read once per file and cached).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CallemoError
from ..io.files import TMP_PREFIX, atomic_write_bytes

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

DATASET_DIR = "dataset"
TABLES = ("calls", "segments")
PROB_PREFIX = "p_"
COMPACTED_PREFIX = "compacted-"
#: a batch compacts the partitions that hold at least this many per-call parts
COMPACT_MIN_PARTS = 64


class DatasetError(CallemoError, ValueError):
    """A results dataset that cannot be written or read (missing, pyarrow/duckdb not installed)."""


def _arrow() -> Any:
    try:
        import pyarrow as pa
    except ImportError as e:
        raise DatasetError(f"the results dataset needs pyarrow: pip install 'callemo[archive]' ({e})") from None
    return pa


def dataset_available(console: Any = None) -> bool:
    """Whether pyarrow is installed (the dataset is an optional extra); if not, say so on ``console``."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is not None:
        return True
    if console is not None:
        console.print("no results dataset: pyarrow is not installed (pip install 'callemo[archive]')",
                      highlight=False)
    return False


def _fields() -> tuple[list[Any], list[Any]]:
    pa = _arrow()
    f64, i32, s = pa.float64(), pa.int32(), pa.string()
    written = ("written_at", pa.timestamp("us", tz="UTC"))
    calls = [
        ("call_id", s), written, ("file", s), ("report", s), ("analysed_at", pa.timestamp("s", tz="UTC")),
        ("schema_version", s), ("duration", f64), ("channels", i32), ("sample_rate", i32),
        ("n_segments", i32), ("n_unknown", i32), ("speech_time", f64),
        ("talk_agent", f64), ("talk_client", f64), ("talk_share_agent", f64), ("talk_share_client", f64),
        ("silence_share", f64), ("overlap_share", f64), ("dominant_agent", s), ("dominant_client", s),
        ("valence_agent", f64), ("valence_client", f64), ("arousal_agent", f64), ("arousal_client", f64),
        ("client_start_valence", f64), ("client_end_valence", f64), ("client_change", f64), ("client_trend", s),
        ("mean_confidence", f64), ("unknown_share", f64), ("n_negative_moments", i32),
        ("most_negative_time", f64), ("most_negative_valence", f64),
        ("needs_review", pa.bool_()), ("review_reasons", pa.list_(s)),
        ("diarization_method", s), ("diarization_confidence", f64), ("model_type", s),
        ("transcribed", pa.bool_()), ("language", s), ("analyze_seconds", f64),
    ]
    segments = [
        ("call_id", s), written, ("start", f64), ("end", f64), ("speaker", s), ("role", s), ("channel", i32),
        ("overlap", pa.bool_()), ("emotion", s), ("confidence", f64), ("valence", f64), ("arousal", f64),
        ("text", s),
    ]
    return [pa.field(n, t) for n, t in calls], [pa.field(n, t) for n, t in segments]


def call_columns() -> list[str]:
    """The fixed columns of the ``calls`` table (metadata columns of a list CSV come after them)."""
    return [f.name for f in _fields()[0]]


def segment_columns() -> list[str]:
    """The fixed columns of the ``segments`` table (``p_<label>`` columns come after them)."""
    return [f.name for f in _fields()[1]]


# -- names and dates -------------------------------------------------------------------------
def part_name(rel: str) -> str:
    """The part file of the call with output name ``rel``: ``<safe prefix>-<16 hex>.parquet``
    (the hash keeps names unique, and equal for the same call)."""
    tag = hashlib.sha256(rel.encode("utf-8")).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", rel).strip("._")[:60]
    return f"{safe}-{tag}.parquet" if safe else f"{tag}.parquet"


def parse_date(value: Any) -> str:
    """A date given in a list CSV (``2024-01-05``, ``2024-01-05T10:31:00``, ``05 Jan 2024``...) as
    ``YYYY-MM-DD``; raises ``ValueError`` for anything else."""
    import pandas as pd

    text = str(value).strip()
    if not text:
        raise ValueError("empty date")
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError) as e:
        raise ValueError(f"not a date: {text!r}") from e
    if pd.isna(t):
        raise ValueError(f"not a date: {text!r}")
    if t.tzinfo is not None:
        t = t.tz_convert("UTC")
    return t.strftime("%Y-%m-%d")


def call_date(doc: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> str:
    """The call's partition date (module docstring): the list's ``date``, else the UTC date of the
    input's modification time (from the batch key in ``doc``, or the file), else today (UTC)."""
    if meta and str(meta.get("date") or "").strip():
        return parse_date(meta["date"])
    mtime_ns = ((doc.get("batch") or {}).get("input") or {}).get("mtime_ns")
    if mtime_ns is None and doc.get("file"):
        try:
            mtime_ns = os.stat(str(doc["file"])).st_mtime_ns
        except OSError:
            mtime_ns = None
    t = dt.datetime.now(dt.UTC) if mtime_ns is None else dt.datetime.fromtimestamp(int(mtime_ns) / 1e9, dt.UTC)
    return t.strftime("%Y-%m-%d")


def dataset_dir(out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / DATASET_DIR


def part_paths(out_dir: str | os.PathLike[str], rel: str, date: str) -> dict[str, Path]:
    """``{"calls": path, "segments": path}`` of the call's parts in partition ``date``."""
    name = part_name(rel)
    return {t: dataset_dir(out_dir) / t / f"date={date}" / name for t in TABLES}


def has_parts(out_dir: str | os.PathLike[str], rel: str, doc: Mapping[str, Any]) -> bool:
    """Whether the call's rows are in the dataset (where ``doc``, its JSON, puts them): its own
    parts, or a compacted file of its date (a call without segments needs no ``segments`` rows)."""
    try:
        date = call_date(doc, doc.get("meta"))
    except ValueError:
        return False
    for t, p in part_paths(out_dir, rel, date).items():
        if p.is_file():
            continue
        if t == "segments" and not doc.get("segments"):  # no rows to look for (its calls row is)
            continue
        if rel not in compacted_ids(p.parent):
            return False
    return True


_IDS_CACHE: dict[tuple[str, int, int, int], frozenset[str]] = {}


def compacted_ids(partition: Path) -> frozenset[str]:
    """The call ids in the compacted files of one partition folder (each file's column is
    read once, then cached by its name, inode, size and mtime)."""
    import pyarrow.parquet as pq

    ids: set[str] = set()
    for f in partition.glob(f"{COMPACTED_PREFIX}*.parquet"):
        try:
            st = f.stat()
            key = (str(f), st.st_ino, st.st_size, st.st_mtime_ns)
            if key not in _IDS_CACHE:
                col = pq.read_table(f, columns=["call_id"]).column("call_id")
                _IDS_CACHE[key] = frozenset(str(x) for x in col.unique().to_pylist() if x is not None)
            ids |= _IDS_CACHE[key]
        except FileNotFoundError:  # merged into a newer compacted file meanwhile
            continue
    return frozenset(ids)


# -- rows ------------------------------------------------------------------------------------
def _meta_columns(meta: Mapping[str, Any] | None, taken: set[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for k, v in (meta or {}).items():
        k = str(k)
        if k in ("date", "path"):
            continue
        name = f"meta_{k}" if k in taken else k
        out[name] = None if v is None or (isinstance(v, float) and v != v) else str(v)
    return out


def call_record(rel: str, doc: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``calls`` row of one call from its JSON document (the date is the partition, not a column)."""
    s = doc.get("summary") or {}
    talk, share = s.get("talk_time") or {}, s.get("talk_share") or {}
    dom, mean = s.get("dominant_emotion") or {}, s.get("mean") or {}
    trend = s.get("client_trend") or {}
    moments = s.get("negative_moments") or []
    diar = s.get("diarization") or {}
    transcript = s.get("transcript") or {}
    html = (doc.get("outputs") or {}).get("html")
    timing = doc.get("timing") or {}
    seconds = [float(v) for k, v in timing.items() if "." not in k and isinstance(v, (int, float))]
    segs = doc.get("segments") or []
    row = {
        "call_id": rel, "file": doc.get("file"),
        "report": (Path(rel).parent / html).as_posix() if html else None,
        "analysed_at": dt.datetime.now(dt.UTC).replace(microsecond=0),
        "schema_version": doc.get("schema_version"), "duration": doc.get("duration"),
        "channels": doc.get("channels"), "sample_rate": doc.get("sample_rate"),
        "n_segments": s.get("n_segments"), "n_unknown": s.get("n_unknown"), "speech_time": s.get("speech_time"),
        "talk_agent": talk.get("agent"), "talk_client": talk.get("client"),
        "talk_share_agent": share.get("agent"), "talk_share_client": share.get("client"),
        "silence_share": s.get("silence_share"), "overlap_share": s.get("overlap_share"),
        "dominant_agent": dom.get("agent"), "dominant_client": dom.get("client"),
        "valence_agent": (mean.get("agent") or {}).get("valence"),
        "valence_client": (mean.get("client") or {}).get("valence"),
        "arousal_agent": (mean.get("agent") or {}).get("arousal"),
        "arousal_client": (mean.get("client") or {}).get("arousal"),
        "client_start_valence": trend.get("start_valence"), "client_end_valence": trend.get("end_valence"),
        "client_change": trend.get("change"), "client_trend": trend.get("direction"),
        "mean_confidence": s.get("mean_confidence"), "unknown_share": s.get("unknown_share"),
        "n_negative_moments": len(moments),
        "most_negative_time": moments[0].get("start") if moments else None,
        "most_negative_valence": moments[0].get("valence") if moments else None,
        "needs_review": s.get("needs_review"), "review_reasons": list(s.get("review_reasons") or []),
        "diarization_method": diar.get("method"), "diarization_confidence": diar.get("confidence"),
        "model_type": (doc.get("model") or {}).get("type"),
        "transcribed": bool(transcript) or any("text" in g for g in segs),
        "language": transcript.get("language"),
        "analyze_seconds": round(sum(seconds), 3) if seconds else None,
    }
    row.update(_meta_columns(meta, set(row) | {"date"}))
    return row


def segment_records(rel: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``segments`` rows of one call from its JSON document, in its order."""
    rows = []
    for g in doc.get("segments") or []:
        r = {k: g.get(k) for k in ("start", "end", "speaker", "role", "channel", "overlap", "emotion", "confidence",
                                   "valence", "arousal", "text")}
        r["call_id"] = rel
        for lab, p in (g.get("probabilities") or {}).items():
            r[PROB_PREFIX + str(lab)] = p
        rows.append(r)
    return rows


def _labels(doc: Mapping[str, Any]) -> list[str]:
    labels = list((doc.get("summary") or {}).get("labels") or (doc.get("model") or {}).get("labels") or [])
    for g in doc.get("segments") or []:
        labels += [str(k) for k in (g.get("probabilities") or {}) if k not in labels]
    return labels


def _table(fields: list[Any], extra: list[str], rows: list[dict[str, Any]], extra_type: Any) -> pa.Table:
    pa = _arrow()
    schema = pa.schema(fields + [pa.field(n, extra_type) for n in extra])
    return pa.Table.from_pylist(rows, schema=schema)


def _parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


# -- writing ---------------------------------------------------------------------------------
def append_call(out_dir: str | os.PathLike[str], rel: str, doc: Mapping[str, Any],
                meta: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write the call's parts (its summary row and its segment rows) into ``OUT/dataset/``.

    ``rel``: the call's output name (its id in the dataset); ``doc``: its JSON document; ``meta``:
    the list CSV's columns for this call (``date`` sets the partition). Each part is written
    atomically and replaces the call's earlier part; a part left in another date is removed.
    Returns the paths written. Raises :class:`DatasetError` naming the part that cannot be written.
    """
    pa = _arrow()
    date = call_date(doc, meta)
    paths = part_paths(out_dir, rel, date)
    call_fields, seg_fields = _fields()
    written_at = dt.datetime.fromtimestamp(time.time_ns() // 1000 / 1e6, dt.UTC)
    row = call_record(rel, doc, meta) | {"written_at": written_at}
    fixed = {f.name for f in call_fields}
    calls = _table(call_fields, [k for k in row if k not in fixed], [row], pa.string())
    probs = [PROB_PREFIX + lab for lab in _labels(doc)]
    segs = [r | {"written_at": written_at} for r in segment_records(rel, doc)]
    segments = _table(seg_fields, probs, segs, pa.float64())
    for name, table in (("calls", calls), ("segments", segments)):
        try:
            atomic_write_bytes(paths[name], _parquet_bytes(table))
        except OSError as e:
            raise DatasetError(f"{paths[name]}: cannot write the dataset part ({e.strerror or type(e).__name__})") \
                from None
    _remove_stale(out_dir, paths["calls"].name, date)
    return paths


def _remove_stale(out_dir: str | os.PathLike[str], name: str, date: str) -> None:
    """Remove the call's parts in other dates (its date changed since it was last written)."""
    for t in TABLES:
        root = dataset_dir(out_dir) / t
        if not root.is_dir():
            continue
        for d in root.iterdir():
            if d.name != f"date={date}" and d.name.startswith("date="):
                (d / name).unlink(missing_ok=True)


# -- reading ---------------------------------------------------------------------------------
def _globs(out_dir: str | os.PathLike[str], table: str, since: str | None, until: str | None) -> list[str]:
    """The part globs of ``table``: every date, or the partitions from ``since`` to ``until``
    (``YYYY-MM-DD``, inclusive). ``[!.]``: not the temporary files of a write in progress
    (callemo.io.files, ``.tmp-*``)."""
    assert TMP_PREFIX.startswith(".")
    root = dataset_dir(out_dir) / table
    if since is None and until is None:
        return [(root / "date=*" / "[!.]*.parquet").as_posix()]
    days = sorted(d.name[len("date="):] for d in root.glob("date=*") if d.is_dir())
    return [(root / f"date={d}" / "[!.]*.parquet").as_posix() for d in days
            if (since is None or d >= since) and (until is None or d <= until)
            and any((root / f"date={d}").glob("[!.]*.parquet"))]


def open_dataset(out_dir: str | os.PathLike[str], *, since: str | None = None,
                 until: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views ``calls`` and ``segments`` over
    ``OUT/dataset/`` (Hive partitioning: ``date`` is a DATE column; parts with other metadata or
    label columns are unioned by name). ``since`` / ``until`` (dates, inclusive): only those
    partitions (DuckDB then opens only their files: a day of a large archive is quick, where a
    ``WHERE date = ...`` still reads every part's schema). Raises :class:`DatasetError` when there
    is no dataset, or no call in the dates asked for."""
    try:
        import duckdb
    except ImportError as e:
        raise DatasetError(f"querying the results dataset needs duckdb: pip install 'callemo[archive]' ({e})") \
            from None
    root = dataset_dir(out_dir)
    missing = [t for t in TABLES if not any((root / t).glob("date=*/[!.]*.parquet"))]
    if missing:
        raise DatasetError(f"{out_dir}: no results dataset ({root} has no {' or '.join(missing)} parts; "
                           "`callemo analyze ... --out` writes it unless --no-dataset is given)")
    try:
        since, until = (None if d is None else parse_date(d) for d in (since, until))
    except ValueError as e:
        raise DatasetError(f"{out_dir}: {e}") from None
    globs = {t: _globs(out_dir, t, since, until) for t in TABLES}
    if not all(globs.values()):
        raise DatasetError(f"{out_dir}: no call in the results dataset from {since or 'the start'} to "
                           f"{until or 'the end'}")
    con = duckdb.connect()
    for t in TABLES:
        files = ", ".join("'" + g.replace("'", "''") + "'" for g in globs[t])
        # one version of each call: the rows of the file with its latest written_at (module docstring)
        con.execute(f"CREATE VIEW {t} AS SELECT * EXCLUDE ({_SRC}) FROM read_parquet([{files}], "
                    f"hive_partitioning=true, union_by_name=true, filename='{_SRC}') {_LATEST}")
    return con


_SRC = "_callemo_part"
_LATEST = (f"QUALIFY {_SRC} = first_value({_SRC}) OVER (PARTITION BY call_id "
           f"ORDER BY written_at DESC NULLS LAST, {_SRC})")


# -- compaction ------------------------------------------------------------------------------
def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _compact_partition(folder: Path, table: str, min_parts: int) -> int:
    """Merge ``folder``'s parts (per-call and compacted) into one compacted file, then remove
    them; returns how many per-call parts were merged (0: fewer than ``min_parts``, nothing done)."""
    import pyarrow.parquet as pq

    pa = _arrow()
    try:
        import duckdb
    except ImportError as e:
        raise DatasetError(f"compacting the results dataset needs duckdb: pip install 'callemo[archive]' ({e})") \
            from None
    files = sorted(f for f in folder.glob("[!.]*.parquet") if f.is_file())
    singles = [f for f in files if not f.name.startswith(COMPACTED_PREFIX)]
    if not singles or len(singles) < min_parts:
        return 0
    tables, read = [], {}
    for f in files:
        try:
            st = f.stat()
            tab = pq.read_table(f)
        except FileNotFoundError:  # merged by another compaction meanwhile: its rows are in its file
            continue
        except (OSError, pa.ArrowInvalid) as e:
            raise DatasetError(f"{f}: cannot read the dataset part to compact it ({e})") from None
        read[f] = _stat_key(st)
        tables.append(tab.append_column(_SRC, pa.array([f.name] * tab.num_rows, pa.string())))
    if not tables:
        return 0
    merged = pa.concat_tables(tables, promote_options="permissive")
    order = "call_id, start" if table == "segments" else "call_id"
    con = duckdb.connect()
    try:
        con.register("merged", merged)
        latest = con.sql(f"SELECT * EXCLUDE ({_SRC}) FROM merged {_LATEST} ORDER BY {order}").to_arrow_table()
    finally:
        con.close()
    # back to the parts' types (DuckDB gives timestamps in microseconds and time zone "Etc/UTC")
    latest = latest.cast(merged.schema.remove(merged.schema.get_field_index(_SRC)))
    tag = hashlib.sha256("\0".join(f"{f.name}:{k}" for f, k in read.items()).encode()).hexdigest()[:16]
    target = folder / f"{COMPACTED_PREFIX}{tag}.parquet"
    try:
        atomic_write_bytes(target, _parquet_bytes(latest))  # first the merged file...
    except OSError as e:
        raise DatasetError(f"{target}: cannot write the compacted file ({e.strerror or type(e).__name__})") from None
    n = 0
    for f, key in read.items():  # ...then the files merged into it
        if f == target:
            continue
        try:
            if _stat_key(f.stat()) != key:  # rewritten by a redo since it was read: keep the newer part
                continue
            f.unlink()
        except FileNotFoundError:
            continue
        n += not f.name.startswith(COMPACTED_PREFIX)
    return n


def compact_dataset(out_dir: str | os.PathLike[str], *, dates: Iterable[str] | None = None,
                    min_parts: int = 1) -> dict[str, int]:
    """Merge each date partition's per-call parts (of ``dates``, ``YYYY-MM-DD``; default every
    date) into one compacted file per partition and table (module docstring: safe when
    interrupted, or run by two processes at once; a later redo of a call still replaces its rows).
    ``min_parts``: leave partitions with fewer per-call parts as they are. Returns ``{date: per-call
    parts merged}`` (of the ``calls`` table) for the partitions compacted."""
    root = dataset_dir(out_dir)
    wanted = None if dates is None else {parse_date(d) for d in dates}
    done: dict[str, int] = {}
    for t in TABLES:
        for folder in sorted((root / t).glob("date=*")):
            date = folder.name[len("date="):]
            if not folder.is_dir() or (wanted is not None and date not in wanted):
                continue
            n = _compact_partition(folder, t, min_parts)
            if n and t == "calls":
                done[date] = n
    return done


def rebuild_dataset(out_dir: str | os.PathLike[str]) -> int:
    """Write the parts of every finished call JSON under ``out_dir`` (for outputs written before
    the dataset existed, or with ``--no-dataset``); returns how many calls were written."""
    import json

    out = Path(out_dir)
    n = 0
    for f in sorted(out.rglob("*.json")):
        if f.name.startswith(".") or DATASET_DIR in f.relative_to(out).parts[:1]:
            continue
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "summary" in doc and "segments" in doc:
            append_call(out, f.relative_to(out).as_posix()[: -len(".json")], doc, doc.get("meta"))
            n += 1
    return n


__all__ = [
    "COMPACT_MIN_PARTS", "DATASET_DIR", "TABLES", "DatasetError", "append_call", "call_columns", "call_date",
    "call_record", "compact_dataset", "compacted_ids", "dataset_available",
    "dataset_dir", "has_parts", "open_dataset", "parse_date", "part_name", "part_paths", "rebuild_dataset",
    "segment_columns", "segment_records",
]
