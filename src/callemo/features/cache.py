"""Cached, parallel feature extraction.

Each item's features are stored as one ``.npy`` file under
``$CALLEMO_CACHE/features/<extractor-key>/<aa>/<sha1>.npy`` where the sha1 hashes the signal's
float32 bytes, its sample rate and the extractor's parameters. Files are written to a temporary
name and renamed into place (atomic on POSIX), so parallel workers and concurrent processes never
see half-written entries. A cache hit refreshes the entry's modification time, so :func:`prune`
(``callemo cache prune``) can drop the least recently used entries first; :func:`cache_usage`
(``callemo cache info``) sums the cache per extractor.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io.files import TMP_PREFIX, atomic_write_bytes, atomic_write_text
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
        v = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    with contextlib.suppress(OSError):
        os.utime(p)  # recently used: pruned last
    return v


def _store(p: Path, value: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=False)
    atomic_write_bytes(p, buf.getvalue())


def _describe(folder: Path, name: str, params: dict[str, Any]) -> None:
    """Write ``params.json`` (extractor name and parameters) once per extractor folder, so
    ``callemo cache info`` can say what a key is."""
    p = folder / "params.json"
    if p.exists():
        return
    with contextlib.suppress(OSError):
        atomic_write_text(p, json.dumps({"extractor": name, "params": params}, default=str, sort_keys=True))


def _work(extractor: FeatureExtractor, x: np.ndarray, sr: int, path: Path | None) -> np.ndarray:
    v = extractor.process_signal(x, sr)
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only or full cache never breaks extraction
            _store(path, v)
    return v


def cached_bytes(x: np.ndarray, sr: int, params: dict[str, Any], make: Callable[[], bytes],
                 cache: bool | str | os.PathLike = True) -> bytes:
    """``make()``, bytes computed from signal ``x`` at ``sr`` as ``params`` (which name the
    computation: ``name``, ``version``, ...) say, kept in the cache beside the features (same
    content key, pruning and ``callemo cache info``); ``cache`` as in :func:`extract`. For work
    that comes before feature extraction and would otherwise be redone on every training run
    (the 16 kbps MP3 encode of a multi-condition copy)."""
    if not cache:
        return make()
    root = cache_root() if cache is True else Path(cache) / "features"
    pkey = params_key(params)
    p = _path(root, pkey, signal_key(x, sr, params))
    if p.exists():
        v = _load(p)
        if v is not None:
            return v.tobytes()
    data = make()
    _describe(root / pkey, str(params.get("name", "bytes")), params)
    with contextlib.suppress(OSError):  # a read-only or full cache never breaks training
        _store(p, np.frombuffer(data, dtype=np.uint8))
    return data


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

    if todo and root is not None:
        _describe(root / pkey, extractor.name, params)
    if todo:
        bar = None
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                           transient=True)
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


# --------------------------------------------------------------------------------------------
# size and pruning
# --------------------------------------------------------------------------------------------

@dataclass
class CacheUsage:
    """Entries and bytes of one extractor's folder (``key``) in the cache."""

    key: str
    extractor: str  # from params.json ("?" for folders written before it existed)
    files: int
    bytes: int
    newest: float  # modification time (epoch s); 0 when empty
    oldest: float


def _entries(root: Path) -> list[tuple[Path, int, float]]:
    out: list[tuple[Path, int, float]] = []
    if not root.exists():
        return out
    for p in root.glob("*/*/*.npy"):
        try:
            st = p.stat()
        except OSError:  # removed meanwhile by another process
            continue
        out.append((p, st.st_size, st.st_mtime))
    return out


def cache_usage(root: str | os.PathLike | None = None) -> list[CacheUsage]:
    """Per-extractor usage of the feature cache (``root`` = the ``features`` folder; default
    :func:`cache_root`), largest first."""
    root = Path(root) if root is not None else cache_root()
    by: dict[str, list[tuple[int, float]]] = {}
    for p, size, mtime in _entries(root):
        by.setdefault(p.parent.parent.name, []).append((size, mtime))
    def name(key: str) -> str:
        try:
            return str(json.loads((root / key / "params.json").read_text()).get("extractor", "?"))
        except (OSError, ValueError):
            return "?"

    rows = [CacheUsage(k, name(k), len(v), sum(s for s, _ in v), max(m for _, m in v), min(m for _, m in v))
            for k, v in by.items()]
    return sorted(rows, key=lambda r: -r.bytes)


def prune(root: str | os.PathLike | None = None, *, max_bytes: int | None = None,
          older_than_days: float | None = None, dry_run: bool = False) -> tuple[int, int]:
    """Remove cache entries unused for more than ``older_than_days``, then the least recently used
    ones until the cache holds at most ``max_bytes`` (``0`` empties it). Leftover temporary files
    of interrupted writes older than an hour go too. Returns ``(files, bytes)`` removed (or that
    would be, with ``dry_run``). Safe while other processes use the cache: a removed entry is
    simply recomputed."""
    root = Path(root) if root is not None else cache_root()
    entries = sorted(_entries(root), key=lambda e: e[2])  # oldest first
    now = time.time()
    drop: list[tuple[Path, int]] = []
    keep: list[tuple[Path, int, float]] = []
    for p, size, mtime in entries:
        if older_than_days is not None and now - mtime > float(older_than_days) * 86400:
            drop.append((p, size))
        else:
            keep.append((p, size, mtime))
    if max_bytes is not None:
        total = sum(s for _, s, _ in keep)
        for p, size, _ in keep:
            if total <= max_bytes:
                break
            drop.append((p, size))
            total -= size
    if root.exists():
        for p in root.glob(f"*/*/{TMP_PREFIX}*"):
            try:
                if now - p.stat().st_mtime > 3600:
                    drop.append((p, p.stat().st_size))
            except OSError:
                pass
    removed = 0
    freed = 0
    for p, size in drop:
        if not dry_run:
            try:
                p.unlink()
            except OSError:
                continue
        removed += 1
        freed += size
    if not dry_run and root.exists():  # empty shard folders
        for d in sorted(root.glob("*/*"), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
    return removed, freed


def parse_size(text: str) -> int:
    """``"500M"``, ``"2G"``, ``"1.5GB"``, ``"0"`` -> bytes (powers of 1024)."""
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(float(t))
    except ValueError:
        raise ValueError(f"cannot read size {text!r} (examples: 0, 500M, 2G)") from None
