"""Batches and service calls on a Dask cluster (the ``distributed`` package, extra ``callemo[dask]``).

* ``scheduler``: ``"local:N"`` starts a :class:`distributed.LocalCluster` of N worker processes with
  one thread each (closed when the batch ends); ``"tcp://HOST:PORT"`` (or ``tls://``, ``ws://``,
  ``wss://``) connects to a running ``dask scheduler``.
* Each call is one task running :func:`callemo.analyze.worker.run_one`, the code of the local
  pool: the same outputs, written atomically under the same names. A worker loads the model once
  and keeps it (:func:`~callemo.analyze.worker.worker_model`).
* A worker that dies (killed, out of memory) loses only the call it was running: the scheduler
  runs it again on another worker (up to ``distributed.scheduler.allowed-failures`` times; then the
  call is a failure row, as with the pool). A retried call overwrites its own outputs, and every
  call is reported once: ``summary.csv`` is built from the JSON files, ``errors.csv`` from results.
* Workers must run the same callemo version and see the audio and the output folder at the same
  paths as this machine (checked before the batch starts).
* For the service: :func:`cluster_client` and :func:`analyze_remote`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .inputs import BatchError, Job
from .worker import OUTPUT_SETTINGS, failure, run_one, worker_model

#: seconds to wait for a scheduler before giving up
CONNECT_TIMEOUT = 10.0
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss)://[^\s:/]+(:\d{1,5})?/?$")
_LOCAL = re.compile(r"^local(:(\d+))?$")
_DIED = "the worker process died while analysing it (killed or out of memory?)"
_INSTALL = 'Dask is not installed: pip install -e ".[dask]" (or pip install "callemo[dask]")'
#: Dask's nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns off glibc's
#: adaptive mmap threshold: every large numpy temporary is then mapped and unmapped again, and an
#: analysis costs about half as much CPU again (3.8 -> 5.9 s, ``benchmarks/scale.py --dask-defaults``).
#: A local cluster starts its workers without it; for a cluster started by hand, docs/scale.md.
_TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
#: Dask workers sample their tasks' stacks every 10 ms for the dashboard's profile: 5.05 instead of
#: 3.72 s of CPU for the same analyses. A local cluster runs without it.
_PROFILE_KEY = "distributed.worker.profile.enabled"


def parse_scheduler(scheduler: str) -> tuple[str, int | str]:
    """``("local", N)`` or ``("remote", address)``; a malformed value is a :class:`BatchError`."""
    s = scheduler.strip()
    if m := _LOCAL.match(s):
        n = int(m.group(2)) if m.group(2) else (os.cpu_count() or 1)
        if n < 1:
            raise BatchError(f"--scheduler {scheduler}: a local cluster needs at least one worker (local:N, N >= 1)")
        return "local", n
    if "://" not in s and re.match(r"^[^\s:/]+:\d{1,5}$", s):  # HOST:PORT, as dask accepts it
        s = "tcp://" + s
    if _ADDRESS.match(s):
        return "remote", s.rstrip("/")
    raise BatchError(f"--scheduler {scheduler!r}: not a Dask scheduler address (tcp://HOST:PORT) or local:N")


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise BatchError(_INSTALL) from None
    return distributed


def cluster_client(scheduler: str) -> Any:
    """A :class:`distributed.Client` for ``scheduler`` (``local:N`` or ``tcp://HOST:PORT``).

    For ``local:N`` the client owns the :class:`~distributed.LocalCluster` it starts: closing the
    client stops its workers. An unreachable scheduler is a :class:`BatchError` naming it.
    """
    kind, arg = parse_scheduler(scheduler)
    distributed = _distributed()
    if kind == "local":
        import logging

        import dask

        # Dask's own log lines (a heartbeat lost while the cluster closes...) stay quiet: the batch
        # reports its calls itself. Its dashboard needs bokeh; without it, no web server.
        dashboard = ":8787" if importlib.util.find_spec("bokeh") else None
        try:
            with dask.config.set({_TRIM_KEY: None, _PROFILE_KEY: False}):  # see _TRIM_KEY, _PROFILE_KEY
                client = distributed.Client(n_workers=int(arg), threads_per_worker=1, processes=True,
                                            silence_logs=logging.CRITICAL, dashboard_address=dashboard,
                                            set_as_default=False)
        except (OSError, RuntimeError, TimeoutError) as e:
            raise BatchError(f"--scheduler {scheduler}: cannot start a local Dask cluster ({e})") from None
        # Ctrl-C in a terminal reaches the whole process group: the batch stops its workers itself
        with contextlib.suppress(Exception):
            client.run(_ignore_sigint)
        return client
    try:
        return distributed.Client(str(arg), timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BatchError(f"--scheduler {arg}: cannot reach the Dask scheduler ({why})") from None


# -- on the workers ----------------------------------------------------------------------------
def _ignore_sigint() -> None:
    """On a local worker (its main thread): leave Ctrl-C to the batch, which closes the cluster."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_check(path: str, out_dir: str) -> str | None:
    """On a worker: what stops it from analysing the batch (None when nothing)."""
    problems = []
    if not os.access(path, os.R_OK):
        problems.append(f"cannot read {path}")
    if not os.access(out_dir, os.W_OK):
        problems.append(f"cannot write to {out_dir}")
    return "; ".join(problems) or None


def _worker_overheads() -> list[str]:
    """On a worker: the Dask settings that make an analysis cost more CPU (see ``_TRIM_KEY``)."""
    import dask

    found = ["MALLOC_TRIM_THRESHOLD_"] if os.environ.get("MALLOC_TRIM_THRESHOLD_") else []
    return found + (["the task profiler"] if dask.config.get(_PROFILE_KEY, True) else [])


def _version() -> str:
    """The installed callemo's version (the same on this machine and on every worker)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("callemo")
    except PackageNotFoundError:
        return "unknown"


def _analyze_call(job: Job, out_dir: str, settings: dict[str, Any], key: dict[str, Any] | None, spec: Any,
                  modules: list[str]) -> dict[str, Any]:
    """One call of a batch on a Dask worker (the model is loaded once per worker and kept)."""
    try:
        model = worker_model(spec, modules)
    except Exception as e:  # a model that cannot be loaded there: the call fails, named
        return failure(job, f"cannot load the model on this worker ({type(e).__name__}: {e})")
    return run_one(job, out_dir, settings, key, model=model)


def _analyze_doc(path: str, options: Any, model_dir: str | None, file: str | None, out_dir: str | None,
                 rel: str | None, write_kw: dict[str, Any], mute_source: bool = False) -> dict[str, Any]:
    from .outputs import write_outputs
    from .pipeline import analyze_file

    result = analyze_file(path, model=worker_model(model_dir), options=options, file=file)
    if mute_source and result.muted:  # --redact-audio on a stored copy (the service's recording)
        from ..text.transcribe import mute_file

        mute_file(path, result.muted)
    if out_dir is None:
        return result.to_dict()
    kw = dict(write_kw)
    if callable(kw.get("audio")):
        kw["audio"] = kw["audio"](result.duration)
    written = write_outputs(result, out_dir, rel, **kw)
    doc: dict[str, Any] = json.loads(Path(written["json"]).read_text(encoding="utf-8"))
    return doc


# -- the batch ---------------------------------------------------------------------------------
def _preflight(client: Any, todo: list[tuple[Job, dict[str, Any] | None]], out: Path, scheduler: str,
               console: Any = None) -> int:
    """Every worker runs this callemo and sees the first input and the output folder; returns the
    number of workers."""
    workers = client.nthreads()
    if not workers:
        return 0
    first = str(Path(todo[0][0].path).resolve())
    here = _version()
    for addr, v in client.run(_version).items():
        if v != here:
            raise BatchError(f"Dask worker {addr} runs callemo {v}, this machine {here}: install the same "
                             "version (and model) on every worker")
    slow = sorted({w for v in client.run(_worker_overheads).values() for w in v})
    if slow and console is not None:
        console.print(f"[yellow]warning:[/] Dask workers run with {' and '.join(slow)}, which cost the analysis "
                      "35-55 % more CPU: start them with callemo's Dask configuration (docs/scale.md, \"Starting a "
                      "cluster by hand\")", highlight=False)
    for addr, problem in client.run(_worker_check, first, str(out.resolve())).items():
        if problem:
            raise BatchError(f"Dask worker {addr} ({scheduler}): {problem}; the audio and the output folder must be "
                             "visible at the same paths on every worker")
    return len(workers)


def run_on_cluster(todo: list[tuple[Job, dict[str, Any] | None]], out: Path, settings: dict[str, Any],
                   model_spec: tuple[Any, list[str]], scheduler: str, handle: Callable[[dict[str, Any]], None],
                   advance: Callable[[str], None], console: Any = None) -> None:
    """Run the batch's calls on the Dask cluster of ``scheduler``; each result goes to ``handle``
    once, in the order they finish. Ctrl-C (or any exception) cancels what is left and closes the
    client, and with it a local cluster started here."""
    if not todo:
        return
    distributed = _distributed()
    from distributed import KilledWorker

    client = cluster_client(scheduler)
    futures: dict[Any, Job] = {}
    try:
        n = _preflight(client, todo, out, scheduler, console)
        if console is not None:
            where = f"{n} Dask worker(s) at {client.scheduler.address}" if n else \
                f"the Dask scheduler at {client.scheduler.address} (no worker yet: the calls wait for one)"
            dash = ""
            if importlib.util.find_spec("bokeh") is not None:  # Dask's dashboard runs only with bokeh
                with contextlib.suppress(Exception):
                    dash = f" (dashboard: {client.dashboard_link})"
            console.print(f"running on {where}{dash}", highlight=False)
        spec, modules = model_spec
        from ..models.base import EmotionModel

        if isinstance(spec, EmotionModel):  # a model object: sent to each worker once, not with every call
            spec = client.scatter(spec, broadcast=True, hash=False)
        batch = uuid.uuid4().hex[:8]
        for j, key in todo:
            f = client.submit(_analyze_call, j, str(out), settings, key, spec, modules, pure=False,
                              key=f"callemo-analyze-{j.rel}-{batch}", retries=1)
            futures[f] = j
        for fut in distributed.as_completed(list(futures), loop=client.loop):
            j = futures.pop(fut)
            try:
                r = fut.result()
            except KilledWorker:
                r = failure(j, _DIED)
            except Exception as e:  # e.g. a result that cannot be unpickled
                r = failure(j, f"worker failed ({type(e).__name__}: {e})")
            fut.release()  # a worker dying later must not run a finished call again
            handle(r)
            advance(Path(j.path).name)
    except BaseException:
        if futures:
            with contextlib.suppress(Exception):
                client.cancel(list(futures), force=True)
        raise
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=10)


# -- the service -------------------------------------------------------------------------------
def analyze_remote(client: Any, path: str | os.PathLike[str], options: Any = None, model_dir: str | None = None,
                   *, file: str | None = None, out_dir: str | os.PathLike[str] | None = None,
                   rel: str | None = None, write_kw: dict[str, Any] | None = None, mute_source: bool = False) -> Any:
    """Analyse one call on the cluster; returns a :class:`distributed.Future` whose result is the
    call's JSON document (``CallResult.to_dict()``).

    ``options``: :class:`~callemo.analyze.options.AnalysisOptions` or a dict of them (checked here).
    ``model_dir``: ``None`` for the shipped model; loaded once per worker. ``file``: the name the
    document shows. With ``out_dir`` (and ``rel``), the worker also writes the outputs there with
    :func:`~callemo.analyze.outputs.write_outputs` (``write_kw``; ``audio`` may be a function of
    the duration) and the result is the document as written. ``mute_source``: with
    ``redact_audio``, the worker also mutes the redacted spans in ``path`` itself (for a stored
    copy such as the service's recording, never a user's original). A failure raises from
    ``future.result()`` (a :class:`~callemo.errors.CallemoError` for a bad recording).
    """
    from .options import parse_options

    opts = parse_options(options)
    bad = set(write_kw or {}) - {*OUTPUT_SETTINGS, "audio_path", "extra", "meta"}
    if bad:
        raise ValueError(f"write_kw: unknown output settings {sorted(bad)}")
    return client.submit(_analyze_doc, str(path), opts, None if model_dir is None else str(model_dir), file,
                         None if out_dir is None else str(out_dir), rel, dict(write_kw or {}), mute_source, pure=False,
                         key=f"callemo-call-{Path(path).name}-{uuid.uuid4().hex[:8]}")


__all__ = ["CONNECT_TIMEOUT", "analyze_remote", "cluster_client", "parse_scheduler", "run_on_cluster"]
