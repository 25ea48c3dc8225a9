"""Batch analysis of files or folders of calls: resumable, crash-safe, stoppable.

* Inputs and output names: :mod:`callemo.analyze.inputs` (the input's path under the folder given,
  minus the audio extension; never two inputs on one output). A path that cannot be used (missing,
  a dangling link, a symlink loop, a folder that cannot be read) is one line on stderr and a row of
  ``errors.csv``; the batch goes on.
* Outputs and when a call is done: :mod:`callemo.analyze.outputs` (same input size and mtime,
  same model, same settings, outputs there). A rerun skips what is done and redoes what changed;
  ``force=True`` redoes everything.
* ``jobs > 1``: worker processes started with *spawn*, each loading the model once and limited to
  one BLAS/OpenMP/torch thread. Workers die with the batch: on Linux the kernel kills them when
  their parent dies (``PR_SET_PDEATHSIG``), and everywhere a watchdog thread in each worker exits
  when the parent is gone or the batch stops. A worker that dies (killed, out of memory) costs
  only the call it was analysing (see :func:`_run_pool`).
* ``scheduler``: the same calls on a Dask cluster (:mod:`callemo.analyze.cluster`), each one
  :func:`callemo.analyze.worker.run_one` as here; resume, ``errors.csv`` and ``summary.csv`` as here.
* Ctrl-C, SIGTERM and SIGHUP stop the batch the same way: finished calls are kept, the workers
  stopped, ``summary.csv`` rebuilt; a ``.tmp-*`` file left by a killed writer is removed.
* ``summary.csv`` (one row per finished call) is rebuilt after the run, every 50 calls and on
  interruption.
* Exit codes (:attr:`BatchResult.exit_code`): 0 all done, 1 some call failed or some path was
  skipped, 128 + signal number when stopped (130 Ctrl-C, 143 SIGTERM); the CLI gives 2 for a batch
  that cannot start (bad option, no audio found, output folder not writable).
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inputs import BatchError, Job, collect_inputs, path_problem
from .outputs import (
    ERRORS_FILE,
    batch_key,
    clean_tmp,
    done_state,
    model_key,
    rebuild_summary,
    settings_key,
)
from .worker import THREAD_VARS, failure, run_one, worker_model

_REBUILD_EVERY = 50


# -- workers -----------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int, stop: Any) -> None:
    """Make this worker end when the batch process ends or stops the batch.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel kill the worker the moment its
    parent dies, even by SIGKILL or the out-of-memory killer. Everywhere: a daemon thread exits
    the process when the parent is gone (the worker is re-parented) or ``stop`` is set.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            if stop.wait(0.25):
                os._exit(0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="callemo-parent-watchdog", daemon=True).start()


def _init_worker(model_spec: Any, modules: Sequence[str], settings: dict[str, Any], parent_pid: int,
                 stop: Any) -> None:
    """Runs once in each worker: die with the parent, leave Ctrl-C and SIGTERM to the parent,
    one thread, load the model."""
    _die_with_parent(parent_pid, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for v in THREAD_VARS:  # torch and onnxruntime read these when they are first imported
        os.environ[v] = "1"
    _WORKER["model"] = worker_model(model_spec, modules)
    _WORKER["settings"] = settings


def _run_one_worker(job: Job, out_dir: str, key: dict[str, Any] | None) -> dict[str, Any]:
    return run_one(job, out_dir, _WORKER["settings"], key, model=_WORKER["model"])


# -- the batch -------------------------------------------------------------------------------
@dataclass
class BatchResult:
    total: int = 0
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: why calls were (re)done: ``{"new": 3, "model changed": 2, ...}``
    reasons: dict[str, int] = field(default_factory=dict)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False
    #: the signal that stopped the batch (SIGINT for Ctrl-C), when ``interrupted``
    signal: int | None = None

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 128 + int(self.signal or signal.SIGINT)
        return 1 if self.failed else 0

    @property
    def rtf(self) -> float | None:
        return self.wall_seconds / self.audio_seconds if self.audio_seconds > 0 else None


class _ErrorLog:
    """``errors.csv`` of this run, appended (and flushed) one failure at a time."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(["file", "error"])

    def add(self, file: str, error: str) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow([file, error])


class _Stopped(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM / SIGHUP: stops the batch like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`_Stopped` while the batch runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        raise _Stopped(signum)

    sigs = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    old = {s: signal.signal(s, stop) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _model_spec(model: Any) -> tuple[Any, list[str]]:
    """What the workers need to load the model themselves: (path or None or object, modules)."""
    from ..models.base import EmotionModel
    from .pipeline import resolve_model

    if isinstance(model, EmotionModel):
        return model, [type(model).__module__]
    m = resolve_model(model)  # fail early, in the parent, with a clear message
    return (None if model is None else str(Path(model).resolve())), [type(m).__module__]


def _prepare_output(out: Path) -> _ErrorLog:
    try:
        out.mkdir(parents=True, exist_ok=True)
        return _ErrorLog(out / ERRORS_FILE)
    except OSError as e:
        raise BatchError(f"{out}: cannot write to the output folder ({e.strerror or type(e).__name__})") from None


def analyze_batch(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    model: Any = None,
    jobs: int = 1,
    force: bool = False,
    html: bool = True,
    plot: bool = True,
    fmt: str = "csv",
    audio: str = "auto",
    progress: bool = True,
    console: Any = None,
    scheduler: str | None = None,
    dataset: bool = True,
    **analyze_kw: Any,
) -> BatchResult:
    """Analyse every call under ``paths`` into ``out_dir``; see the module docstring.

    ``scheduler``: ``None`` runs the calls here (``jobs`` worker processes); ``"local:N"`` on a
    Dask ``LocalCluster`` of N workers; ``"tcp://HOST:PORT"`` on a running Dask cluster
    (:mod:`callemo.analyze.cluster`; ``jobs`` is then ignored). The outputs are the same.

    ``dataset``: also write each call's rows into the results dataset ``out_dir/dataset/``
    (:mod:`callemo.analyze.dataset`; skipped with a notice when pyarrow is not installed); at the end,
    the dates holding at least ``COMPACT_MIN_PARTS`` per-call parts are compacted.

    ``analyze_kw``: ``options`` (an :class:`~callemo.analyze.options.AnalysisOptions`), option
    overrides and ``prepare``, as :func:`~callemo.analyze.pipeline.analyze_file` takes them.
    """
    from rich.console import Console

    from .options import parse_options

    console = console or Console(stderr=True)
    out = Path(out_dir)
    prepare = analyze_kw.pop("prepare", None)
    options = parse_options(analyze_kw.pop("options", None), **analyze_kw)  # bad options: one error, early
    if scheduler is not None:
        from .cluster import parse_scheduler

        parse_scheduler(scheduler)  # a malformed address: one error, early
    if dataset:
        from .dataset import dataset_available

        dataset = dataset_available(console)  # without pyarrow: one notice, no dataset
    inputs = collect_inputs(paths)
    if not inputs.jobs and not inputs.problems:
        raise BatchError(f"no audio files found in {', '.join(map(str, paths))} (extensions: wav, flac, mp3, ogg, ...)")
    errors = _prepare_output(out)
    clean_tmp(out)
    res = BatchResult(total=len(inputs.jobs) + len(inputs.problems))
    for path, msg in inputs.problems:
        res.failed.append((path, msg))
        errors.add(path, msg)
        console.print(f"[red]skipped:[/] {msg}", highlight=False, soft_wrap=True)

    settings: dict[str, Any] = {"options": options, "html": html, "plot": plot, "fmt": fmt, "audio": audio,
                                "dataset": dataset}
    if prepare is not None:
        settings["prepare"] = prepare
    model_id = model_key(model) if inputs.jobs else ""
    settings_id = settings_key(options, prepare)
    todo: list[tuple[Job, dict[str, Any] | None]] = []
    for j in inputs.jobs:
        try:
            key = batch_key(j.path, model_id, settings_id)
        except OSError as e:  # vanished or unreadable since it was found
            res.failed.append((j.path, path_problem(j.path, e)))
            errors.add(j.path, path_problem(j.path, e))
            continue
        why = "forced" if force else done_state(out, j, key, fmt=fmt, html=html, plot=plot, dataset=dataset)
        if why is None:
            res.skipped.append(j.path)
        else:
            res.reasons[why] = res.reasons.get(why, 0) + 1
            todo.append((j, key))
    if res.skipped:
        console.print(f"{len(res.skipped)} of {len(inputs.jobs)} call(s) already analysed in {out} with this model and "
                      "these settings (skipped; --force redoes them)", highlight=False)
    redo = {k: v for k, v in res.reasons.items() if k not in ("new", "forced")}
    if redo:
        console.print("redoing " + ", ".join(f"{v} ({k})" for k, v in sorted(redo.items())), highlight=False)
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

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("[bold]analyze"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
                   console=console, disable=not progress or not todo, transient=False)
    in_process = scheduler is None and (jobs == 1 or len(todo) <= 1)
    try:
        with _stop_on_signals():
            # load (or check) the model before anything starts, so a bad --model is one clear error
            loaded: Any = None
            if todo:
                from .pipeline import resolve_model

                loaded = resolve_model(model) if in_process else _model_spec(model)
            with bar:
                task = bar.add_task("analyze", total=len(todo), last="")
                if in_process:
                    for j, jkey in todo:
                        handle(run_one(j, str(out), settings, jkey, model=loaded))
                        bar.update(task, advance=1, last=Path(j.path).name)
                elif scheduler is not None:
                    from .cluster import run_on_cluster

                    run_on_cluster(todo, out, settings, loaded, scheduler, handle,
                                   lambda name: bar.update(task, advance=1, last=name), console=console)
                else:
                    _run_pool(todo, out, settings, loaded, jobs, handle,
                              lambda name: bar.update(task, advance=1, last=name))
            if dataset and res.done:  # one file per date instead of one per call, for the queries
                _compact(out, console)
    except KeyboardInterrupt as e:
        res.interrupted = True
        res.signal = e.signum if isinstance(e, _Stopped) else int(signal.SIGINT)
        console.print("[yellow]interrupted: finished calls are kept; rerun the same command to resume[/]")
    finally:
        res.wall_seconds = time.perf_counter() - t_start
        clean_tmp(out, only_dead=True)  # a worker killed mid-write leaves its temporary file
        with contextlib.suppress(Exception):
            rebuild_summary(out)
    return res


def _compact(out: Path, console: Any) -> None:
    """Compact the dataset's partitions holding many per-call parts (callemo.analyze.dataset)."""
    from .dataset import COMPACT_MIN_PARTS, DatasetError, compact_dataset

    try:
        merged = compact_dataset(out, min_parts=COMPACT_MIN_PARTS)
    except DatasetError as e:
        console.print(f"[yellow]results dataset not compacted:[/] {e}", highlight=False, soft_wrap=True)
        return
    if merged:
        console.print(f"results dataset: {sum(merged.values())} call part(s) of {len(merged)} date(s) compacted",
                      highlight=False)


def _run_pool(todo: list[tuple[Job, dict[str, Any] | None]], out: Path, settings: dict[str, Any],
              model_spec: tuple[Any, list[str]], jobs: int, handle: Callable[[dict[str, Any]], None],
              advance: Callable[[str], None]) -> None:
    """Run the jobs in spawned worker processes.

    A worker that dies (killed, out of memory, a crash in native code) breaks the whole pool; the
    unfinished jobs then run again in a fresh pool, and if the pool breaks again they run with a
    single worker until the call that kills it is found: that call is reported as failed and the
    batch goes on.
    """
    spec, modules = model_spec
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    for v in THREAD_VARS:  # spawned children inherit the environment at start
        os.environ[v] = "1"
    try:
        pending, breaks = list(todo), 0
        while pending:
            workers = min(jobs, len(pending)) if breaks < 2 else 1
            crashed = _pool_pass(pending, out, settings, spec, modules, workers, handle, advance)
            if not crashed:
                break
            breaks += 1
            if workers == 1:
                # one worker runs jobs in order: the first unfinished one killed it
                bad = crashed[0][0]
                handle(failure(bad, "the worker process died while analysing it (killed or out of memory?)"))
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


def _pool_pass(pending: list[tuple[Job, dict[str, Any] | None]], out: Path, settings: dict[str, Any], spec: Any,
               modules: list[str], workers: int, handle: Callable[[dict[str, Any]], None],
               advance: Callable[[str], None]) -> list[tuple[Job, dict[str, Any] | None]]:
    """One pool over ``pending``; returns the jobs left unfinished by a broken pool (in order).

    On an interruption the workers are told to exit (the ``stop`` event their watchdog threads
    wait on) and the pool is shut down before the exception goes on, so no worker outlives it.
    """
    import concurrent.futures as cf
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(spec, modules, settings, os.getpid(), stop))
    crashed: list[int] = []
    try:
        futures = {}
        for k, (j, key) in enumerate(pending):
            try:
                futures[ex.submit(_run_one_worker, j, str(out), key)] = k
            except BrokenProcessPool:
                crashed.extend(range(k, len(pending)))
                break
        for fut in cf.as_completed(futures):
            k = futures[fut]
            j = pending[k][0]
            try:
                r = fut.result()
            except BrokenProcessPool:
                crashed.append(k)
                continue
            except Exception as e:  # e.g. a result that cannot be unpickled
                r = failure(j, f"worker failed ({type(e).__name__}: {e})")
            handle(r)
            advance(Path(j.path).name)
        ex.shutdown(wait=True)
    except BaseException:
        stop.set()  # each worker's watchdog exits its process within a quarter of a second
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    return [pending[k] for k in sorted(set(crashed))]
