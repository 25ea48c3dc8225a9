"""Cached, parallel feature extraction.

Each item's features are stored as one ``.npy`` file under
``$CALLEMO_CACHE/features/<extractor-key>/<aa>/<sha1>.npy`` where the sha1 hashes the signal's
float32 bytes, its sample rate and the extractor's parameters. Files are written to a temporary
name and renamed into place (atomic on POSIX), so parallel workers and concurrent processes never
see half-written entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .base import FeatureExtractor


def cache_root() -> Path:
    return Path(os.environ.get("CALLEMO_CACHE", Path.home() / ".cache" / "callemo")) / "features"


def params_key(params: dict[str, Any]) -> str:
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def signal_key(x: np.ndarray, sr: int, params: dict[str, Any]) -> str:
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    h.update(f"|sr={int(sr)}|".encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _path(root: Path, pkey: str, key: str) -> Path:
    return root / pkey / key[:2] / f"{key}.npy"


def _load(p: Path) -> np.ndarray | None:
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None


def _store(p: Path, value: np.ndarray) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, value, allow_pickle=False)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _work(extractor: FeatureExtractor, x: np.ndarray, sr: int, path: Path | None) -> np.ndarray:
    v = extractor.process_signal(x, sr)
    if path is not None:
        try:
            _store(path, v)
        except OSError:  # a read-only or full cache never breaks extraction
            pass
    return v


def extract(
    extractor: FeatureExtractor,
    signals: Sequence[np.ndarray],
    *,
    sr: int | None = None,
    jobs: int = 1,
    cache: bool | str | os.PathLike = True,
    progress: bool = False,
    description: str | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Features of many signals (all at ``sr``, default the extractor's rate).

    Functional extractors return an ``(n, n_features)`` array; frame-level ones a list of
    ``(frames, n_features)`` arrays. ``cache`` = True uses ``$CALLEMO_CACHE`` (default
    ``~/.cache/callemo``), a path uses that folder, False disables it. ``jobs`` > 1 runs with
    joblib processes; ``progress`` shows a rich progress bar.
    """
    sr = extractor.sample_rate if sr is None else int(sr)
    params = extractor.params()
    root = None
    if cache:
        root = cache_root() if cache is True else Path(cache) / "features"
    pkey = params_key(params)
    out: list[np.ndarray | None] = [None] * len(signals)
    todo: list[tuple[int, Path | None]] = []
    for i, x in enumerate(signals):
        p = None
        if root is not None:
            p = _path(root, pkey, signal_key(x, sr, params))
            if p.exists():
                v = _load(p)
                if v is not None:
                    out[i] = v
                    continue
        todo.append((i, p))

    if todo:
        bar = None
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
            bar.start()
            task = bar.add_task(description or f"features {extractor.name}", total=len(todo))
        try:
            if jobs is not None and jobs != 1 and len(todo) > 1:
                from joblib import Parallel, delayed

                par = Parallel(n_jobs=jobs, return_as="generator", batch_size=4)
                gen = par(delayed(_work)(extractor, signals[i], sr, p) for i, p in todo)
                for (i, _), v in zip(todo, gen):
                    out[i] = v
                    if bar is not None:
                        bar.advance(task)
            else:
                for i, p in todo:
                    out[i] = _work(extractor, signals[i], sr, p)
                    if bar is not None:
                        bar.advance(task)
        finally:
            if bar is not None:
                bar.stop()

    if extractor.kind == "frames":
        return [np.asarray(v) for v in out]
    if not out:
        return np.zeros((0, extractor.dim), dtype=np.float32)
    return np.vstack([np.asarray(v, dtype=np.float32).reshape(1, -1) for v in out])
