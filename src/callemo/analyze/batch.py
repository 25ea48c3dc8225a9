"""Batch analysis of files or folders of calls, resumable and crash-safe.

* Inputs: files and folders (searched recursively for audio extensions). A folder's files keep
  their sub-folders under ``--out`` (``in/a/b.wav`` -> ``out/a/b.json``), so equal names in
  different folders do not collide.
* Each call's outputs are written atomically (a temporary file in the same folder, then
  ``os.replace``): the table, the plot and the report first, the JSON **last**, as the completion
  marker. A rerun skips every call whose JSON exists (``force=True`` redoes them). Ctrl-C or a
  crash leaves at worst a ``.tmp-*`` file, which the next run removes.
* ``jobs > 1``: worker processes started with *spawn* (safe with torch and threads), each loading
  the model once and limited to one BLAS/OpenMP/torch thread.
* ``summary.csv`` (one row per finished call) is rebuilt from every finished JSON under ``--out``
  (after the run, every 50 calls, and on interruption), so it survives interruptions.
* A worker that dies (killed, out of memory) costs only the call it was analysing (see
  ``_run_pool``).
* A call that fails (unreadable, empty, corrupt) is reported on stderr and appended to
  ``errors.csv`` (``file,error``), and the batch goes on. ``BatchResult.exit_code`` is 1 when some
  call failed, 0 otherwise.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import CallemoError

TMP_PREFIX = ".tmp-"
SUMMARY_FILE = "summary.csv"
ERRORS_FILE = "errors.csv"
_REBUILD_EVERY = 50


class BatchError(CallemoError, ValueError):
    """Bad batch input (no audio file found, a path that does not exist)."""


# -- inputs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    path: str        # the audio file
    rel: str         # output path under --out, without extension (posix)


def collect_inputs(paths: Sequence[str | os.PathLike]) -> list[Job]:
    """Expand files and folders (recursive) into jobs with collision-free output names."""
    from ..io import AUDIO_EXTENSIONS

    jobs: list[tuple[Path, Path]] = []  # (file, relative output stem)
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            for f in files:
                r = f.resolve()
                if r not in seen:
                    seen.add(r)
                    jobs.append((f, f.relative_to(p).with_suffix("")))
        elif p.exists() or p.is_symlink():
            r = p.resolve()
            if r not in seen:
                seen.add(r)
                jobs.append((p, Path(p.stem)))
        else:
            # a missing path is a per-file failure (reported, batch goes on), not a crash
            jobs.append((p, Path(p.stem)))
    # disambiguate equal output names (a.wav and a.flac, or files of the same stem given twice)
    counts: dict[str, int] = {}
    for _, rel in jobs:
        counts[rel.as_posix().lower()] = counts.get(rel.as_posix().lower(), 0) + 1
    out: list[Job] = []
    used: set[str] = set()
    for f, rel in jobs:
        key = rel.as_posix()
        if counts[key.lower()] > 1:
            key = f"{key}_{f.suffix.lstrip('.').lower()}"
            base, k = key, 2
            while key.lower() in used:
                key = f"{base}_{k}"
                k += 1
        used.add(key.lower())
        out.append(Job(str(f), key))
    return out


# -- atomic output ---------------------------------------------------------------------------
def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{os.getpid()}-{path.name}")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8", "newline": ""})) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_outputs(
    result,
    out_dir: str | os.PathLike,
    rel: str | None = None,
    *,
    html: bool = True,
    plot: bool = True,
    fmt: str = "csv",
    audio: str = "auto",
) -> dict[str, str]:
    """Write ``<rel>.csv|parquet``, ``.png``, ``.html`` then ``.json`` (the completion marker)."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    base = out / (rel or result.stem)
    base.parent.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    table = result.table()
    if fmt == "parquet":
        import io

        buf = io.BytesIO()
        try:
            table.to_parquet(buf, index=False)
        except ImportError as e:
            raise BatchError(f"--format parquet needs pyarrow ({e})") from None
        written["table"] = str(atomic_write(base.with_suffix(".parquet"), buf.getvalue()))
    else:
        written["table"] = str(atomic_write(base.with_suffix(".csv"), table.to_csv(index=False, float_format="%.4f")))
    doc = result.to_dict()
    png = None
    if plot or html:
        from ..report.plot import plot_call

        png = plot_call(result)
        if plot:
            written["plot"] = str(atomic_write(base.with_suffix(".png"), png))
    if html:
        from ..report.html import render_html

        page = render_html(result, png=png, report_path=base.with_suffix(".html"), audio=audio, doc=doc)
        written["html"] = str(atomic_write(base.with_suffix(".html"), page))
    doc["outputs"] = {k: Path(v).name for k, v in written.items()}
    doc.setdefault("timing", {})["outputs"] = round(time.perf_counter() - t0, 3)
    written["json"] = str(atomic_write(base.with_suffix(".json"), json.dumps(doc, indent=1, allow_nan=False)))
    return written


def is_done(out_dir: Path, rel: str) -> bool:
    """A call is finished when its JSON exists and parses."""
    f = out_dir / f"{rel}.json"
    if not f.is_file():
        return False
    try:
        with open(f, encoding="utf-8") as fh:
            doc = json.load(fh)
        return isinstance(doc, dict) and "summary" in doc and "segments" in doc
    except (OSError, ValueError):
        return False


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
    process, named in the file name ``.tmp-<pid>-...``, no longer runs)."""
    n = 0
    if out_dir.is_dir():
        for f in out_dir.rglob(f"{TMP_PREFIX}*"):
            if only_dead:
                pid = f.name[len(TMP_PREFIX):].split("-", 1)[0]
                if not pid.isdigit() or _pid_alive(int(pid)):
                    continue
            try:
                f.unlink()
                n += 1
            except OSError:
                pass
    return n


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
    s = doc.get("summary", {})
    talk = s.get("talk_time", {})
    dom = s.get("dominant_emotion", {})
    mean = s.get("mean", {})
    trend = s.get("client_trend", {})
    moments = s.get("negative_moments") or []
    return {
        "file": doc.get("file"), "output": output, "duration": doc.get("duration"), "channels": doc.get("channels"),
        "n_segments": s.get("n_segments"), "n_unknown": s.get("n_unknown"), "speech_time": s.get("speech_time"),
        "talk_agent": talk.get("agent"), "talk_client": talk.get("client"),
        "silence_share": s.get("silence_share"), "overlap_share": s.get("overlap_share"),
        "dominant_agent": dom.get("agent"), "dominant_client": dom.get("client"),
        "valence_agent": (mean.get("agent") or {}).get("valence"), "valence_client": (mean.get("client") or {}).get("valence"),
        "arousal_agent": (mean.get("agent") or {}).get("arousal"), "arousal_client": (mean.get("client") or {}).get("arousal"),
        "client_start_valence": trend.get("start_valence"), "client_end_valence": trend.get("end_valence"),
        "client_trend": trend.get("direction"), "mean_confidence": s.get("mean_confidence"),
        "n_negative_moments": len(moments),
        "most_negative_time": moments[0]["start"] if moments else None,
        "most_negative_valence": moments[0]["valence"] if moments else None,
        "needs_review": s.get("needs_review"), "review_reasons": "; ".join(s.get("review_reasons") or []),
        "analyze_seconds": _analyze_seconds(doc),
    }


def _analyze_seconds(doc: dict[str, Any]) -> float | None:
    t = doc.get("timing") or {}
    vals = [float(v) for k, v in t.items() if "." not in k and isinstance(v, (int, float))]
    return round(sum(vals), 3) if vals else None


def rebuild_summary(out_dir: str | os.PathLike) -> Path:
    """Write ``summary.csv`` from every finished call JSON under ``out_dir`` (sorted by path)."""
    out = Path(out_dir)
    rows = []
    for f in sorted(out.rglob("*.json")):
        if f.name.startswith(TMP_PREFIX) or f.name.startswith("."):
            continue
        try:
            with open(f, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            continue
        if not (isinstance(doc, dict) and "summary" in doc and "segments" in doc):
            continue
        row = summary_row(doc, f.relative_to(out).with_suffix("").as_posix())
        rows.append(row)
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return atomic_write(out / SUMMARY_FILE, buf.getvalue())


# -- workers -----------------------------------------------------------------------------------
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS")
_WORKER: dict[str, Any] = {}


def _limit_threads() -> None:
    for v in _THREAD_VARS:
        os.environ.setdefault(v, "1")
    if "torch" in sys.modules:
        try:
            sys.modules["torch"].set_num_threads(1)
        except Exception:  # noqa: BLE001
            pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # noqa: BLE001
        pass


def _init_worker(model_spec: Any, modules: Sequence[str], settings: dict[str, Any]) -> None:
    """Runs once in each worker process: one thread, ignore Ctrl-C (the parent handles it), load the model."""
    import importlib
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for v in _THREAD_VARS:  # torch and onnxruntime read these when they are first imported
        os.environ[v] = "1"
    _limit_threads()
    for m in modules:
        try:
            importlib.import_module(m)
        except Exception:  # noqa: BLE001
            pass
    from .pipeline import resolve_model

    _WORKER["model"] = resolve_model(model_spec)
    _WORKER["settings"] = settings


def _run_one(job: Job, out_dir: str, settings: dict[str, Any], model=None) -> dict[str, Any]:
    """Analyse one call and write its outputs; never raises (errors come back as a message)."""
    from .pipeline import analyze_file

    t0 = time.perf_counter()
    try:
        m = model if model is not None else _WORKER.get("model")
        opts = dict(settings)
        out_opts = {k: opts.pop(k) for k in ("html", "plot", "fmt", "audio") if k in opts}
        result = analyze_file(job.path, model=m, **opts)
        write_outputs(result, out_dir, job.rel, **out_opts)
        return {"file": job.path, "rel": job.rel, "ok": True, "seconds": time.perf_counter() - t0,
                "duration": result.duration, "needs_review": result.summary.get("needs_review")}
    except CallemoError as e:
        return {"file": job.path, "rel": job.rel, "ok": False, "error": str(e)}
    except MemoryError:
        return {"file": job.path, "rel": job.rel, "ok": False, "error": f"{job.path}: out of memory"}
    except Exception as e:  # noqa: BLE001 - one bad call must not stop the batch
        msg = str(e) or type(e).__name__
        if job.path not in msg:
            msg = f"{job.path}: {type(e).__name__}: {msg}"
        return {"file": job.path, "rel": job.rel, "ok": False, "error": msg}


def _run_one_worker(job: Job, out_dir: str) -> dict[str, Any]:
    return _run_one(job, out_dir, _WORKER["settings"])


# -- the batch -------------------------------------------------------------------------------
@dataclass
class BatchResult:
    total: int = 0
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else (1 if self.failed else 0)

    @property
    def rtf(self) -> float | None:
        return self.wall_seconds / self.audio_seconds if self.audio_seconds > 0 else None


class _ErrorLog:
    """``errors.csv`` of this run, appended (and flushed) one failure at a time."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(["file", "error"])

    def add(self, file: str, error: str) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow([file, error])


def _model_spec(model: Any) -> tuple[Any, list[str]]:
    """What the workers need to load the model themselves: (path or None or object, modules)."""
    from ..models.base import EmotionModel

    if isinstance(model, EmotionModel):
        return model, [type(model).__module__]
    from .pipeline import resolve_model

    m = resolve_model(model)  # fail early, in the parent, with a clear message
    return (None if model is None else str(Path(model).resolve())), [type(m).__module__]


def analyze_batch(
    paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    model: Any = None,
    jobs: int = 1,
    force: bool = False,
    html: bool = True,
    plot: bool = True,
    fmt: str = "csv",
    audio: str = "auto",
    progress: bool = True,
    console=None,
    **analyze_kw: Any,
) -> BatchResult:
    """Analyse every call under ``paths`` into ``out_dir``; see the module docstring."""
    from rich.console import Console

    console = console or Console(stderr=True)
    out = Path(out_dir)
    all_jobs = collect_inputs(paths)
    if not all_jobs:
        raise BatchError(f"no audio files found in {', '.join(map(str, paths))} (extensions: wav, flac, mp3, ogg, ...)")
    out.mkdir(parents=True, exist_ok=True)
    clean_tmp(out)
    res = BatchResult(total=len(all_jobs))
    todo = []
    for j in all_jobs:
        if not force and is_done(out, j.rel):
            res.skipped.append(j.path)
        else:
            todo.append(j)
    errors = _ErrorLog(out / ERRORS_FILE)
    settings = dict(analyze_kw, html=html, plot=plot, fmt=fmt, audio=audio)
    if res.skipped:
        console.print(f"{len(res.skipped)} of {len(all_jobs)} call(s) already analysed in {out} (skipped; --force redoes them)",
                      highlight=False)
    t_start = time.perf_counter()
    jobs = max(1, int(jobs))
    since_rebuild = 0

    def handle(r: dict[str, Any]) -> None:
        nonlocal since_rebuild
        if r["ok"]:
            res.done.append(r["file"])
            res.audio_seconds += float(r.get("duration") or 0.0)
            since_rebuild += 1
            if since_rebuild >= _REBUILD_EVERY:
                rebuild_summary(out)
                since_rebuild = 0
        else:
            res.failed.append((r["file"], r["error"]))
            errors.add(r["file"], r["error"])
            console.print(f"[red]failed:[/] {r['error']}", highlight=False, soft_wrap=True)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]analyze"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
                   console=console, disable=not progress or not todo, transient=False)
    # load (or check) the model before anything starts, so a bad --model is one clear error
    in_process = jobs == 1 or len(todo) <= 1
    loaded = None
    if todo:
        from .pipeline import resolve_model

        loaded = resolve_model(model) if in_process else _model_spec(model)
    try:
        with bar:
            task = bar.add_task("analyze", total=len(todo), last="")
            if in_process:
                for j in todo:
                    r = _run_one(j, str(out), settings, model=loaded)
                    handle(r)
                    bar.update(task, advance=1, last=Path(j.path).name)
            else:
                _run_pool(todo, out, settings, loaded, jobs, handle, lambda name: bar.update(task, advance=1, last=name))
    except KeyboardInterrupt:
        res.interrupted = True
        console.print("[yellow]interrupted: finished calls are kept; rerun the same command to resume[/]")
    finally:
        res.wall_seconds = time.perf_counter() - t_start
        clean_tmp(out, only_dead=True)  # a worker killed mid-write leaves its temporary file
        try:
            rebuild_summary(out)
        except Exception:  # noqa: BLE001
            pass
    return res


def _run_pool(todo: list[Job], out: Path, settings: dict[str, Any], model_spec: tuple[Any, list[str]], jobs: int,
              handle, advance) -> None:
    """Run the jobs in spawned worker processes.

    A worker that dies (killed, out of memory, a crash in native code) breaks the whole pool; the
    unfinished jobs then run again in a fresh pool, and if the pool breaks again they run with a
    single worker until the call that kills it is found: that call is reported as failed and the
    batch goes on.
    """
    from concurrent.futures.process import BrokenProcessPool

    spec, modules = model_spec
    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    for v in _THREAD_VARS:  # spawned children inherit the environment at start
        os.environ[v] = "1"
    try:
        pending, breaks = list(todo), 0
        while pending:
            workers = min(jobs, len(pending)) if breaks < 2 else 1
            crashed = _pool_pass(pending, out, settings, spec, modules, workers, handle, advance, BrokenProcessPool)
            if not crashed:
                break
            breaks += 1
            if workers == 1:
                # one worker runs jobs in order: the first unfinished one killed it
                bad = crashed[0]
                handle({"file": bad.path, "rel": bad.rel, "ok": False,
                        "error": f"{bad.path}: the worker process died while analysing it (killed or out of memory?)"})
                advance(Path(bad.path).name)
                pending, breaks = crashed[1:], 1
            else:
                pending = crashed
    finally:
        for v, val in saved.items():
            if val is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = val


def _pool_pass(pending: list[Job], out: Path, settings, spec, modules, workers: int, handle, advance,
               broken_exc) -> list[Job]:
    """One pool over ``pending``; returns the jobs left unfinished by a broken pool (in order)."""
    import concurrent.futures as cf
    import multiprocessing as mp

    ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                initializer=_init_worker, initargs=(spec, modules, settings))
    crashed: list[int] = []
    try:
        futures = {}
        for k, j in enumerate(pending):
            try:
                futures[ex.submit(_run_one_worker, j, str(out))] = k
            except broken_exc:
                crashed.extend(range(k, len(pending)))
                break
        for fut in cf.as_completed(futures):
            k = futures[fut]
            j = pending[k]
            try:
                r = fut.result()
            except broken_exc:
                crashed.append(k)
                continue
            except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be unpickled
                r = {"file": j.path, "rel": j.rel, "ok": False, "error": f"{j.path}: worker failed ({type(e).__name__}: {e})"}
            handle(r)
            advance(Path(j.path).name)
        ex.shutdown(wait=True)
    except BaseException:
        procs = list((getattr(ex, "_processes", None) or {}).values())
        ex.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            try:
                p.terminate()
            except Exception:  # noqa: BLE001
                pass
        raise
    return [pending[k] for k in sorted(set(crashed))]


def iter_results(out_dir: str | os.PathLike) -> Iterable[dict[str, Any]]:
    """Every finished call JSON under ``out_dir``."""
    for f in sorted(Path(out_dir).rglob("*.json")):
        if f.name.startswith(TMP_PREFIX):
            continue
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "summary" in doc:
            yield doc
