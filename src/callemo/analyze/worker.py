"""One call of a batch, as a worker runs it: the same code for the local pool and for Dask workers.

* :func:`run_one` analyses one call and writes its outputs (:func:`~callemo.analyze.outputs.write_outputs`,
  atomic, named per call); it never raises: a failure comes back as a row naming the file.
* :func:`worker_model` loads the model once per worker process and keeps it, keyed by the model's
  identity (its path and the files' sizes and modification times), so a worker that serves several
  batches or service calls loads each model once, not once per call.
* :func:`limit_threads`: one BLAS/OpenMP/torch thread per worker (a worker is one core).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CallemoError
from .inputs import Job
from .outputs import write_outputs

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
#: keys of a batch's settings that go to :func:`write_outputs` rather than to ``analyze_file``
OUTPUT_SETTINGS = ("html", "plot", "fmt", "audio", "dataset")
_MODELS: OrderedDict[Any, Any] = OrderedDict()
_MODELS_KEEP = 2  # models kept per worker process (a worker serving two batches with two models)
_LOCK = threading.Lock()
_limited = False
_loads = 0


def limit_threads() -> None:
    """One BLAS/OpenMP/torch thread in this process."""
    for v in THREAD_VARS:
        os.environ.setdefault(v, "1")
    if "torch" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["torch"].set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # threadpoolctl is optional
        pass


def _stamp(spec: str | None) -> tuple[Any, ...]:
    """What identifies a model directory cheaply: its files' names, sizes and modification times."""
    from ..models.base import default_model_dir

    d = Path(spec) if spec is not None else default_model_dir()
    try:
        return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in d.iterdir() if p.is_file()))
    except OSError:
        return ()


def worker_model(spec: Any, modules: Sequence[str] = ()) -> Any:
    """The model of ``spec`` (a model directory, ``None`` for the shipped model, or a model
    object), loaded once in this process and cached; a changed directory is loaded again."""
    from ..models.base import EmotionModel
    from .pipeline import resolve_model

    global _limited, _loads
    if isinstance(spec, EmotionModel):
        return spec
    key = (None if spec is None else str(spec), _stamp(spec))
    with _LOCK:
        if not _limited:
            limit_threads()
            _limited = True
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        for m in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(m)
        model = resolve_model(spec)
        _loads += 1
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEEP:
            _MODELS.popitem(last=False)
        return model


def model_loads() -> int:
    """How many times this process loaded a model (a test checks: once per worker, not per call)."""
    return _loads


def failure(job: Job, msg: str) -> dict[str, Any]:
    """A failed call as a batch result row: the file and one line that names it."""
    if job.path not in msg:
        msg = f"{job.path}: {msg}"
    return {"file": job.path, "rel": job.rel, "ok": False, "error": " ".join(msg.split())}


def run_one(job: Job, out_dir: str, settings: dict[str, Any], key: dict[str, Any] | None,
            model: Any = None) -> dict[str, Any]:
    """Analyse one call and write its outputs; never raises (errors come back as one line that
    names the file)."""
    from .pipeline import analyze_file

    t0 = time.perf_counter()
    try:
        opts = dict(settings)
        out_opts = {k: opts.pop(k) for k in OUTPUT_SETTINGS if k in opts}
        result = analyze_file(job.path, model=model, **opts)
        write_outputs(result, out_dir, job.rel, extra={"batch": key} if key else None, meta=dict(job.meta) or None,
                      **out_opts)
        return {"file": job.path, "rel": job.rel, "ok": True, "seconds": time.perf_counter() - t0,
                "duration": result.duration, "pid": os.getpid()}
    except CallemoError as e:
        return failure(job, str(e))
    except MemoryError:
        return failure(job, "out of memory")
    except Exception as e:  # one bad call must not stop the batch
        return failure(job, f"{type(e).__name__}: {e}")


__all__ = ["OUTPUT_SETTINGS", "THREAD_VARS", "failure", "limit_threads", "model_loads", "run_one", "worker_model"]
