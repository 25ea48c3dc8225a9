"""Manifests: one row per training/evaluation item (a file or a segment of it) with its labels.

A manifest is a CSV file with at least the columns ``path``, ``speaker`` and ``emotion``, and
optionally ``start`` and ``end`` (seconds within the file; empty = the whole file), ``valence``,
``arousal`` (in [-1, 1]), ``gender``, ``corpus``, ``language`` and any other context columns::

    path,start,end,speaker,emotion,valence,arousal,gender
    calls/c001.wav,12.5,17.0,c001_client,angry,-0.6,0.7,f
    ravdess/Actor_01/03-01-05-01-01-01-01.flac,,,ravdess_01,angry,,,m

Relative paths resolve against the manifest's folder (or ``root``). :func:`read_manifest` checks
every row and raises one :class:`ManifestError` listing all the bad rows (file, row, problem).
Rows are numbered like a spreadsheet user sees them: "row 3 (line 4)" is the third data row,
on line 4 of the file (the header is line 1).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..io.files import atomic_write_text
from ..labels.categorical import to_manifest

REQUIRED = ("path", "speaker", "emotion")
NUMERIC = ("start", "end", "valence", "arousal")
#: tolerance (seconds) when checking that a segment ends inside its file
BOUNDS_TOLERANCE = 0.02
#: how many row problems a ManifestError message lists
MAX_LISTED = 20


class ManifestError(CallemoError, ValueError):
    """A manifest cannot be used; names the file, the rows and the problems."""

    def __init__(self, path: str | os.PathLike | None, problems: Sequence[str] | str):
        self.path = None if path is None else str(path)
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        head = f"{self.path}: " if self.path else ""
        if len(self.problems) == 1:
            msg = head + self.problems[0]
        else:
            shown = self.problems[:MAX_LISTED]
            more = len(self.problems) - len(shown)
            msg = head + f"{len(self.problems)} problems:\n  " + "\n  ".join(shown)
            if more:
                msg += f"\n  ... and {more} more"
        super().__init__(msg)


def _row(i: int) -> str:
    """Human row label for 0-based data row ``i``: data row i+1 on file line i+2."""
    return f"row {i + 1} (line {i + 2})"


def _is_blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def read_manifest(
    path: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    check_files: bool = True,
    check_bounds: bool = True,
    labels: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read and validate a manifest CSV.

    Returns a DataFrame with ``path`` (absolute), ``start``/``end`` (float seconds, NaN = whole
    file), ``speaker``, ``emotion`` (stripped, lower-case) and every other column of the file
    (``valence``/``arousal`` as floats; other columns numeric where every value parses).

    Checks: required columns present; per row, non-empty path/speaker/emotion, numbers that
    parse, ``start >= 0``, ``end > start``, the file exists (``check_files``), the segment lies
    within the file (``check_bounds``, via :func:`callemo.io.audio_info`), the emotion is one of
    ``labels`` (when given). All problems are collected and raised as one :class:`ManifestError`.
    """
    p = Path(path)
    if not p.exists():
        raise ManifestError(p, "manifest file not found")
    if p.is_dir():
        raise ManifestError(p, "is a directory, not a manifest CSV")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ManifestError(p, "manifest is empty (no header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ManifestError(p, f"not a readable CSV ({e})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    if "path" not in raw.columns and "file" in raw.columns:  # segment-table spelling
        raw = raw.rename(columns={"file": "path"})
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ManifestError(
            p, f"missing required column(s) {', '.join(repr(c) for c in missing)} (found: {', '.join(raw.columns)})"
        )
    if len(raw) == 0:
        raise ManifestError(p, "manifest has a header but no rows")
    base = Path(root) if root is not None else p.resolve().parent
    return validate_manifest(raw, base=base, source=p, check_files=check_files, check_bounds=check_bounds,
                             labels=labels)


def validate_manifest(
    raw: pd.DataFrame,
    *,
    base: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
    check_files: bool = True,
    check_bounds: bool = True,
    labels: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Validate and normalise a manifest already in memory (see :func:`read_manifest`)."""
    src = source if source is not None else "<manifest>"
    raw = raw.reset_index(drop=True).copy()
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ManifestError(src, f"missing required column(s) {', '.join(repr(c) for c in missing)}")
    base_dir = Path(base) if base is not None else Path.cwd()
    allowed = None if labels is None else {str(x).strip().lower() for x in labels}
    problems: list[str] = []
    n = len(raw)

    # numbers
    numeric: dict[str, np.ndarray] = {}
    for col in NUMERIC:
        vals = np.full(n, np.nan)
        if col in raw.columns:
            for i, v in enumerate(raw[col].tolist()):
                if _is_blank(v):
                    continue
                try:
                    vals[i] = float(v)
                except (TypeError, ValueError):
                    problems.append(f"{_row(i)}: {col} {v!r} is not a number")
                    continue
                if not np.isfinite(vals[i]):
                    problems.append(f"{_row(i)}: {col} {v!r} is not a finite number")
                    vals[i] = np.nan
        numeric[col] = vals

    paths: list[str] = []
    infos: dict[str, float | str] = {}
    speakers: list[str] = []
    emotions: list[str] = []
    col_path, col_spk, col_emo = raw["path"].tolist(), raw["speaker"].tolist(), raw["emotion"].tolist()
    for i in range(n):
        pv = col_path[i]
        spk = "" if _is_blank(col_spk[i]) else str(col_spk[i]).strip()
        emo = "" if _is_blank(col_emo[i]) else str(col_emo[i]).strip().lower()
        speakers.append(spk)
        emotions.append(emo)
        if not spk:
            problems.append(f"{_row(i)}: empty speaker")
        if not emo:
            problems.append(f"{_row(i)}: empty emotion")
        elif allowed is not None and emo not in allowed:
            problems.append(f"{_row(i)}: unknown label {emo!r} (allowed: {', '.join(sorted(allowed))})")
        if _is_blank(pv):
            problems.append(f"{_row(i)}: empty path")
            paths.append("")
            continue
        fp = Path(str(pv).strip()).expanduser()
        if not fp.is_absolute():
            fp = base_dir / fp
        fp = Path(os.path.normpath(str(fp.absolute())))
        paths.append(str(fp))
        s, e = numeric["start"][i], numeric["end"][i]
        if not np.isnan(s) and s < 0:
            problems.append(f"{_row(i)}: start {s:g} is negative")
        if not np.isnan(e) and e <= (0.0 if np.isnan(s) else s):
            problems.append(f"{_row(i)}: end {e:g} <= start {0.0 if np.isnan(s) else s:g}")
        if check_files or check_bounds:
            key = str(fp)
            whole = np.isnan(s) and np.isnan(e)
            if key not in infos or (infos[key] == -1.0 and check_bounds and not whole):
                infos[key] = _file_state(fp, need_length=check_bounds and not whole)
            state = infos[key]
            if isinstance(state, str):  # a problem with the file itself
                if check_files or state != "missing":
                    problems.append(f"{_row(i)}: " + (f"file not found: {fp}" if state == "missing" else state))
                continue
            if check_bounds and state >= 0:
                if not np.isnan(e) and e > state + BOUNDS_TOLERANCE:
                    problems.append(f"{_row(i)}: segment end {e:g} s is beyond the end of {fp.name} ({state:.3f} s)")
                elif not np.isnan(s) and s >= state:
                    problems.append(f"{_row(i)}: segment start {s:g} s is beyond the end of {fp.name} ({state:.3f} s)")
    if problems:
        raise ManifestError(src, problems)

    out = pd.DataFrame(
        {
            "path": paths,
            "start": numeric["start"],
            "end": numeric["end"],
            "speaker": speakers,
            "emotion": emotions,
        }
    )
    for col in ("valence", "arousal"):
        if col in raw.columns:
            out[col] = numeric[col]
    for col in raw.columns:
        if col in out.columns or col in REQUIRED or col in NUMERIC:
            continue
        out[col] = _maybe_numeric(raw[col])
    return out


def _file_state(fp: Path, need_length: bool) -> float | str:
    """Duration in seconds (-1.0 when not needed), or a problem: "missing" or a message."""
    if not fp.exists():
        return "missing"
    if fp.is_dir():
        return f"is a directory, not an audio file: {fp}"
    if fp.stat().st_size == 0:
        return f"empty file (0 bytes): {fp}"
    if not need_length:  # whole-file rows need no length: do not open them (fast on big corpora)
        return -1.0
    from ..io import AudioError, audio_info

    try:
        return audio_info(fp).duration
    except AudioError as err:
        return f"unreadable audio {fp} ({err.problem})"


def _maybe_numeric(s: pd.Series) -> pd.Series:
    """Numbers where every non-empty value parses (and none has a leading zero like ids '01')."""
    if not (s.dtype == object or pd.api.types.is_string_dtype(s)):
        return s
    vals = s.map(lambda v: np.nan if _is_blank(v) else v)  # empty cells are missing values
    nonblank = vals.dropna().astype(str)
    if len(nonblank) == 0:
        return vals
    if nonblank.str.match(r"^0\d").any():
        return vals
    try:
        return pd.to_numeric(vals)
    except (TypeError, ValueError):
        return vals


def write_manifest(df: pd.DataFrame, path: str | os.PathLike, *, relative: bool = False) -> Path:
    """Write a manifest CSV (``path`` first, then ``start, end, speaker, emotion``, then the rest).

    Accepts a segment table indexed by ``(file, start, end)`` too. ``relative=True`` writes paths
    relative to the manifest's folder (so the manifest moves with the audio). NaN is written empty.
    """
    out = Path(path)
    d = df.copy()
    if isinstance(d.index, pd.MultiIndex) and "file" in (d.index.names or []):
        d = d.reset_index()
    if "path" not in d.columns and "file" in d.columns:
        d = d.rename(columns={"file": "path"})
    missing = [c for c in REQUIRED if c not in d.columns]
    if missing:
        raise ManifestError(out, f"cannot write manifest: missing column(s) {', '.join(missing)}")
    for c in ("start", "end"):
        if c not in d.columns:
            d[c] = np.nan
    if relative:
        folder = out.resolve().parent
        d["path"] = [os.path.relpath(str(Path(x).absolute()), folder) for x in d["path"]]
    first = ["path", "start", "end", "speaker", "emotion"]
    d = d[first + [c for c in d.columns if c not in first]]
    atomic_write_text(out, d.to_csv(index=False, float_format="%.6g"))
    return out


def write_gold_manifest(items: pd.DataFrame, path: str | os.PathLike, *, relative: bool = True) -> Path:
    """Write gold items (:func:`callemo.labels.categorical.harmonise`) as a manifest CSV, paths
    relative to the manifest's folder by default (item ids that are not absolute paths stay as
    they are)."""
    m = to_manifest(items)
    if relative and not m["path"].map(lambda s: os.path.isabs(str(s))).all():
        relative = False
    return write_manifest(m, path, relative=relative)


def row_seed(path: str, start: float | None = None, end: float | None = None, seed: int = 0) -> int:
    """A reproducible per-row seed: crc32 of the file *name* (not its folder, so that it is the same
    on every machine), start and end, mixed with ``seed``."""
    s = "" if start is None or (isinstance(start, float) and np.isnan(start)) else f"{float(start):.3f}"
    e = "" if end is None or (isinstance(end, float) and np.isnan(end)) else f"{float(end):.3f}"
    return zlib.crc32(f"{Path(str(path)).name}|{s}|{e}|{seed}".encode())


def _load_one(path: str, start, end, sr: int, telephone: bool, snr_range, p_noise: float, seed: int):
    """The row's signal, or the :class:`~callemo.io.AudioError` that stops it (collected by the caller)."""
    from ..io import AudioError, TelephoneAugment, load_audio, load_segment, resample

    try:
        if not telephone:
            return load_segment(path, start, end, sr)
        s = 0.0 if start is None or np.isnan(start) else float(start)
        e = None if end is None or np.isnan(end) else float(end)
        x, file_sr = load_audio(path, None, start=s, end=e)
    except AudioError as err:
        return err
    augment = TelephoneAugment(snr_range=snr_range, p_noise=p_noise)
    y, tsr = augment(x, file_sr, rng=np.random.default_rng(row_seed(path, start, end, seed)))
    return resample(y, tsr, sr) if sr != tsr else y


def load_signals(
    df: pd.DataFrame,
    sr: int,
    *,
    telephone: bool = False,
    jobs: int = 1,
    progress: bool = False,
    snr_range: tuple[float, float] | None = (10.0, 30.0),
    p_noise: float = 0.7,
    seed: int = 0,
    backend: str = "threads",
) -> list[np.ndarray]:
    """Mono float32 signals of the manifest rows at ``sr`` (in row order).

    ``telephone=True`` degrades each row with :func:`callemo.io.telephone` (8 kHz, 300-3400 Hz,
    mu-law) and, with probability ``p_noise``, noise at an SNR drawn uniformly from ``snr_range``;
    the draw is seeded from the row (:func:`row_seed`), so the same row always gets the same noise.
    The 8 kHz result is resampled to ``sr`` when ``sr`` is not 8000. ``jobs > 1`` loads in
    parallel with joblib (``backend="threads"`` by default: decoding and soxr resampling release
    the GIL, and threads start instantly; ``"processes"`` for heavy telephone batches);
    ``progress`` shows a progress bar. Audio that cannot be used raises one :class:`ManifestError`
    listing every bad row and file.
    """
    if isinstance(df.index, pd.MultiIndex) and "file" in (df.index.names or []):
        df = df.reset_index().rename(columns={"file": "path"})
    n = len(df)
    starts = df["start"].astype(float).to_numpy() if "start" in df.columns else np.full(n, np.nan)
    ends = df["end"].astype(float).to_numpy() if "end" in df.columns else np.full(n, np.nan)
    args = [(str(p), starts[i], ends[i]) for i, p in enumerate(df["path"].tolist())]
    kw: dict[str, Any] = dict(sr=int(sr), telephone=bool(telephone), snr_range=snr_range, p_noise=p_noise, seed=seed)
    desc = f"loading {n} signals" + (" (telephone)" if telephone else "")
    if jobs is not None and jobs != 1 and n > 1:
        from joblib import Parallel, delayed

        gen = Parallel(n_jobs=jobs, return_as="generator", batch_size=16, prefer=backend)(
            delayed(_load_one)(p, s, e, **kw) for p, s, e in args
        )
        out = list(_track(gen, n, desc) if progress else gen)
    else:
        it = _track(args, n, desc) if progress else args
        out = [_load_one(p, s, e, **kw) for p, s, e in it]
    bad = [f"{_row(i)}: {x}" for i, x in enumerate(out) if isinstance(x, Exception)]
    if bad:  # every bad file of the manifest at once, not only the first
        raise ManifestError(None, bad)
    return out


def _track(it, total: int, desc: str):
    from rich.progress import track

    return track(it, total=total, description=desc, transient=True)


def summarize(df: pd.DataFrame, column: str = "emotion", by: str | None = None) -> pd.DataFrame:
    """Counts per label (rows), with the number of speakers (and per ``by`` column if given)."""
    if by is None:
        g = df.groupby(column)
        return pd.DataFrame({"items": g.size(), "speakers": g["speaker"].nunique()}).sort_index()
    return pd.crosstab(df[column], df[by])


__all__ = [
    "ManifestError",
    "load_signals",
    "read_manifest",
    "row_seed",
    "summarize",
    "validate_manifest",
    "write_manifest",
]
