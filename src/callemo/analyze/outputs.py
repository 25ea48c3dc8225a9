"""A call's output files in a batch: names on disk, atomic writing, the "done" key, summary.csv.

* :func:`write_outputs` writes ``<name>.csv|parquet``, ``.png``, ``.html``, the call's parts of the
  results dataset (``dataset=True``: :mod:`callemo.analyze.dataset`) and then ``.json``, each
  atomically (:mod:`callemo.io.files`); the JSON, written last, marks the call finished.
* :func:`done_state`: a call is done when its JSON exists, parses, carries the same ``batch`` key
  and the other outputs asked for exist (with ``dataset=True``, its rows in the dataset too: its
  own parts or a compacted file of its date), and the
  list CSV's metadata of the call is unchanged. The key (:func:`batch_key`) is the input's size and
  modification time, the model's identity (:func:`model_key`: a hash of its directory's files)
  and the analysis settings (a hash of the :class:`~callemo.analyze.options.AnalysisOptions`).
* :func:`rebuild_summary` writes ``summary.csv`` from every finished JSON under the output folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ..io.files import TMP_PREFIX, atomic_write_bytes, atomic_write_text, tmp_writer_pid
from .inputs import BatchError, Job

SUMMARY_FILE = "summary.csv"
ERRORS_FILE = "errors.csv"


def input_key(path: str | os.PathLike[str]) -> dict[str, int]:
    st = os.stat(path)
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def _hash_dir(d: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(f.relative_to(d).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _canonical(obj: Any) -> Any:
    """JSON-ready form of settings: pydantic models dumped, dataclasses as dicts, functions by name."""
    from pydantic import BaseModel

    from ..utils import plain

    if isinstance(obj, BaseModel):
        return _canonical(obj.model_dump(mode="json"))
    if is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if callable(obj):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    return plain(obj)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(_canonical(obj), sort_keys=True, default=str).encode()).hexdigest()


def settings_key(options: Any, prepare: Any = None) -> str:
    """The analysis settings' identity: a hash of the options (and of the ``prepare`` function's
    qualified name, when a custom one is used)."""
    return _sha({"options": options, "prepare": prepare})


def model_key(model: Any) -> str:
    """The model's identity: a hash of its directory's files (``None``: the shipped model); for a
    model object, of its saved directory when it was loaded from one, else of its card and config."""
    from ..models.base import EmotionModel, default_model_dir

    if model is None:
        return _hash_dir(default_model_dir())
    if isinstance(model, EmotionModel):
        path = (model.card or {}).get("path")
        if path and Path(path).is_dir():
            return _hash_dir(Path(path))
        return _sha({"type": type(model).__module__ + "." + type(model).__qualname__, "labels": list(model.labels),
                     "config": model.config, "card": model.card})
    return _hash_dir(Path(model))


def batch_key(path: str | os.PathLike[str], model_id: str, settings_id: str) -> dict[str, Any]:
    return {"input": input_key(path), "model": model_id, "settings": settings_id}


def output_path(out_dir: str | os.PathLike[str], rel: str, ext: str) -> Path:
    """``<out_dir>/<rel><ext>``: the extension is appended, never replaces part of the name."""
    base = Path(out_dir) / rel
    return base.with_name(base.name + ext)


def _read_doc(f: Path) -> dict[str, Any] | None:
    try:
        with open(f, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "summary" in doc and "segments" in doc else None


def done_state(out_dir: Path, job: Job, key: dict[str, Any] | None, *, fmt: str = "csv", html: bool = True,
               plot: bool = True, dataset: bool = False) -> str | None:
    """``None`` when ``job`` is done with this ``key``; otherwise why it must be (re)done:
    ``new``, ``input changed``, ``model changed``, ``settings changed``, ``metadata changed`` (the
    call's row of a list CSV) or ``outputs missing``."""
    doc = _read_doc(output_path(out_dir, job.rel, ".json"))
    if doc is None:
        return "new"
    if key is not None:
        old = doc.get("batch") or {}
        for part, why in (("input", "input changed"), ("model", "model changed"), ("settings", "settings changed")):
            if old.get(part) != key[part]:
                return why
    if (doc.get("meta") or {}) != dict(job.meta):
        return "metadata changed"
    wanted = [".parquet" if fmt == "parquet" else ".csv"] + [".png"] * plot + [".html"] * html
    if not all(output_path(out_dir, job.rel, ext).is_file() for ext in wanted):
        return "outputs missing"
    if dataset:
        from .dataset import has_parts

        if not has_parts(out_dir, job.rel, doc):
            return "outputs missing"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_tmp(out_dir: Path, *, only_dead: bool = False) -> int:
    """Remove temporary files left by an interrupted run (``only_dead``: only those whose writer
    process, named in the file name, no longer runs)."""
    n = 0
    if out_dir.is_dir():
        for f in out_dir.rglob(f"{TMP_PREFIX}*"):
            if only_dead:
                pid = tmp_writer_pid(f)
                if pid is None or _pid_alive(pid):
                    continue
            try:
                f.unlink()
                n += 1
            except OSError:
                pass
    return n


# -- outputs ---------------------------------------------------------------------------------
def write_outputs(
    result: Any,
    out_dir: str | os.PathLike[str],
    rel: str | None = None,
    *,
    html: bool = True,
    plot: bool = True,
    fmt: str = "csv",
    audio: str = "auto",
    extra: dict[str, Any] | None = None,
    audio_path: str | os.PathLike[str] | None = None,
    dataset: bool = False,
    meta: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Write ``<rel>.csv|parquet``, ``.png``, ``.html``, the dataset parts then ``.json`` (the
    completion marker).

    ``dataset``: also write the call's parts of the results dataset ``<out_dir>/dataset/``
    (:func:`callemo.analyze.dataset.append_call`); ``meta``: the call's columns from the batch's
    list CSV (stored in the JSON as ``meta`` and as columns of the dataset).

    ``audio_path``: the recording the report's player uses (default ``result.file``; the service
    names its calls by their uploaded name and keeps the recording elsewhere).

    ``extra``: keys added to the JSON (the batch key). An output that cannot be written raises
    :class:`BatchError` naming the file and the reason.
    """
    t0 = time.perf_counter()
    rel = rel or Path(result.file).stem
    written: dict[str, str] = {}

    def put(kind: str, ext: str, data: bytes | str) -> None:
        p = output_path(out_dir, rel, ext)
        try:
            if isinstance(data, bytes):
                atomic_write_bytes(p, data)
            else:
                atomic_write_text(p, data)
        except OSError as e:
            raise BatchError(f"{p}: cannot write output ({e.strerror or type(e).__name__})") from None
        written[kind] = str(p)

    table = result.table()
    if fmt == "parquet":
        buf = io.BytesIO()
        try:
            table.to_parquet(buf, index=False)
        except ImportError as e:
            raise BatchError(f"--format parquet needs pyarrow ({e})") from None
        put("table", ".parquet", buf.getvalue())
    else:
        put("table", ".csv", table.to_csv(index=False, float_format="%.4f"))
    doc = result.to_dict()
    png = None
    if plot or html:
        from ..report.plot import plot_call

        png = plot_call(result)
        if plot:
            put("plot", ".png", png)
    if html:
        from ..report.html import render_html

        page = render_html(result, png=png, report_path=output_path(out_dir, rel, ".html"), audio=audio, doc=doc,
                           audio_path=audio_path)
        put("html", ".html", page)
    doc["outputs"] = {k: Path(v).name for k, v in written.items()}
    doc.update(extra or {})
    if meta:
        doc["meta"] = {str(k): v for k, v in meta.items()}
    if dataset:
        from .dataset import DatasetError, append_call

        try:
            parts = append_call(out_dir, rel, doc, meta)
        except DatasetError as e:
            raise BatchError(str(e)) from None
        written.update({f"dataset_{k}": str(v) for k, v in parts.items()})
    doc.setdefault("timing", {})["outputs"] = round(time.perf_counter() - t0, 3)
    put("json", ".json", json.dumps(doc, indent=1, allow_nan=False))
    return written


# -- summary.csv -----------------------------------------------------------------------------
SUMMARY_COLUMNS = [
    "file", "output", "duration", "channels", "n_segments", "n_unknown", "speech_time",
    "talk_agent", "talk_client", "silence_share", "overlap_share",
    "dominant_agent", "dominant_client", "valence_agent", "valence_client", "arousal_agent", "arousal_client",
    "client_start_valence", "client_end_valence", "client_trend", "mean_confidence",
    "n_negative_moments", "most_negative_time", "most_negative_valence",
    "needs_review", "review_reasons", "analyze_seconds",
]


def summary_row(doc: dict[str, Any], output: str) -> dict[str, Any]:
    """The ``summary.csv`` row of one call: the columns of :data:`SUMMARY_COLUMNS` taken from the
    dataset's call record (:func:`callemo.analyze.dataset.call_record`, one flattening of the
    summary for both), review reasons joined with ``"; "``."""
    from .dataset import call_record

    rec = call_record(output, doc)
    rec["output"] = output
    rec["review_reasons"] = "; ".join(rec.get("review_reasons") or [])
    return {k: rec.get(k) for k in SUMMARY_COLUMNS}


def rebuild_summary(out_dir: str | os.PathLike[str]) -> Path:
    """Write ``summary.csv`` from every finished call JSON under ``out_dir`` (sorted by path)."""
    out = Path(out_dir)
    rows = []
    for f in sorted(out.rglob("*.json")):
        if f.name.startswith("."):
            continue
        doc = _read_doc(f)
        if doc is not None:
            rows.append(summary_row(doc, f.relative_to(out).as_posix()[: -len(".json")]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return atomic_write_text(out / SUMMARY_FILE, buf.getvalue())


__all__ = [
    "ERRORS_FILE", "SUMMARY_COLUMNS", "SUMMARY_FILE", "batch_key", "clean_tmp", "done_state", "input_key",
    "model_key", "output_path", "rebuild_summary", "settings_key", "summary_row", "write_outputs",
]
