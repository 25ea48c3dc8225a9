"""Continuous (time-continuous valence / arousal) annotations.

The one in-memory form is a *long* DataFrame with columns

    file, time, annotator, valence, arousal

one row per sample of one annotator's trace, ``time`` in seconds, ``valence`` / ``arousal`` in
[-1, 1] (NaN where a dimension was not annotated), sorted by ``(file, annotator, time)``.

Two file formats are read by :func:`read_continuous`:

* a **long CSV** with a header naming ``file, time, annotator, valence, arousal`` (any order,
  extra columns ignored; ``rater`` is accepted for ``annotator``, ``second``/``seconds``/``t``
  for ``time``, ``x``/``y`` for valence/arousal);
* a **DARMA-style export** (one file per annotator, three columns: time, x = valence,
  y = arousal), with or without a header row and with or without preamble lines before it.
  The recording and annotator are given as arguments or taken from the file name
  ``<recording>__<annotator>.csv`` (double underscore), else ``<recording>_<annotator>.csv``
  (last single underscore), else the file name is the annotator and the folder the recording.

Values on paper 000's DARMA scale [-1000, 1000] (or any scale given with ``scale=``) are
divided down to [-1, 1]. Every problem is an :class:`AnnotationError` naming the file and line.

:func:`resample_traces` brings all annotators of a recording onto a common time grid (cubic
spline by default, as paper 000 does), and :func:`gold_standard` combines them (mean of the
annotators by default; ``median``, ``ewe`` or any callable); :func:`traces_from_gold` puts a gold
standard on a model's label grid.
"""

from __future__ import annotations

import csv
import io as _io
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CallemoError

COLUMNS = ["file", "time", "annotator", "valence", "arousal"]
DIMENSIONS = ("valence", "arousal")

#: header aliases (lower-case, stripped) -> canonical column
_ALIASES = {
    "file": "file", "recording": "file", "call": "file", "audio": "file", "path": "file",
    "time": "time", "second": "time", "seconds": "time", "sec": "time", "t": "time",
    "timestamp": "time", "time_s": "time",
    "annotator": "annotator", "rater": "annotator", "coder": "annotator",
    "valence": "valence", "x": "valence", "val": "valence",
    "arousal": "arousal", "y": "arousal", "aro": "arousal", "activation": "arousal",
}


class AnnotationError(CallemoError):
    """A problem in an annotation file, naming the file, the line (and field when known)."""

    def __init__(self, path, line: int | None, message: str, *, field: str | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = self.path or "annotations"
        if line is not None:
            where += f", line {line}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


# ----------------------------------------------------------------------------------------- reading

def read_text_csv(path: str | os.PathLike) -> tuple[Path, pd.DataFrame]:
    """Read an annotation CSV as strings (blanks stay ``""``), header names stripped.

    Returns the path and the table; raises :class:`AnnotationError` for a missing, empty,
    malformed or non-UTF-8 file (naming the line pandas reports, when it does).
    """
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(p, None, "file not found" if not p.exists() else "not a file")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise AnnotationError(p, None, "empty file (a header is required)") from None
    except pd.errors.ParserError as e:
        m = re.search(r"line (\d+)", str(e))
        raise AnnotationError(p, int(m.group(1)) if m else None, f"malformed CSV ({e})") from None
    except UnicodeDecodeError:
        raise AnnotationError(p, None, "not a UTF-8 text file") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    return p, raw


def _sniff_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-empty line of a delimited text file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(path, None, "file not found") from None
    except UnicodeDecodeError as e:
        raise AnnotationError(path, text_line_of_offset(path, e.start), "not a UTF-8 text file") from None
    except OSError as e:
        raise AnnotationError(path, None, f"cannot read ({e.strerror or e})") from None
    sample = "\n".join(text.splitlines()[:50])
    delim = ","
    if sample.strip():
        try:
            delim = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
        except csv.Error:
            if "," not in sample:
                delim = "\t" if "\t" in sample else (";" if ";" in sample else " ")
    # ';' or tab separated files from spreadsheets may write decimal commas ("0,5")
    decimal_comma = delim in (";", "\t") and any(_DECIMAL_COMMA.fullmatch(f.strip())
                                                  for line in sample.splitlines() for f in line.split(delim))
    rows = []
    if delim == " ":
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append((i, line.split()))
        return rows
    reader = csv.reader(_io.StringIO(text), delimiter=delim, skipinitialspace=True)
    prev_end = 0
    try:
        for fields in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if fields and any(f.strip() for f in fields):
                fields = [f.strip() for f in fields]
                if decimal_comma:
                    fields = [_decimal(f) for f in fields]
                rows.append((start, fields))
    except csv.Error as e:
        raise AnnotationError(path, reader.line_num, f"malformed CSV ({e})") from None
    return rows


_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")


def _decimal(field: str) -> str:
    return field.replace(",", ".") if _DECIMAL_COMMA.fullmatch(field) else field


def text_line_of_offset(path: Path, offset: int) -> int | None:
    try:
        return path.read_bytes()[:offset].count(b"\n") + 1
    except OSError:
        return None


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _number(path, line, field, s: str) -> float:
    if s is None or s == "":
        raise AnnotationError(path, line, "missing value", field=field)
    try:
        v = float(s)
    except ValueError:
        raise AnnotationError(path, line, f"{s!r} is not a number", field=field) from None
    if not math.isfinite(v):
        raise AnnotationError(path, line, f"{s!r} is not a finite number", field=field)
    return v


def _canonical_header(fields: list[str]) -> dict[str, int]:
    """canonical column -> index for a header row (first occurrence wins)."""
    out: dict[str, int] = {}
    for j, f in enumerate(fields):
        key = _ALIASES.get(f.strip().strip('"').lower())
        if key is not None and key not in out:
            out[key] = j
    return out


def _names_from_path(path: Path) -> tuple[str, str]:
    """(recording, annotator) from a DARMA export's file name."""
    stem = path.stem
    if "__" in stem:
        rec, ann = stem.rsplit("__", 1)
    elif "_" in stem:
        rec, ann = stem.rsplit("_", 1)
    else:
        rec, ann = path.parent.name or stem, stem
    return rec, ann


def _pick(value, i: int, path: Path):
    """An argument given as one value, a sequence aligned with the paths, or a mapping path->value."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return value.get(str(path), value.get(path.name, value.get(path.stem)))
    return list(value)[i]


def _read_long(path: Path, rows, header_line: int, cols: dict[str, int], *, file, annotator):
    if "annotator" not in cols and annotator is None:
        raise AnnotationError(path, header_line, "missing column 'annotator' (or pass annotator=)")
    if "time" not in cols:
        raise AnnotationError(path, header_line, "missing column 'time'")
    if "valence" not in cols and "arousal" not in cols:
        raise AnnotationError(path, header_line, "missing columns 'valence' and 'arousal' (need at least one)")
    default_file = file if file is not None else path.stem
    recs = []
    for line, fields in rows:
        def get(c, line=line, fields=fields):
            j = cols.get(c)
            if j is None:
                return None
            if j >= len(fields):
                raise AnnotationError(path, line, f"expected at least {j + 1} fields, found {len(fields)}", field=c)
            return fields[j]
        f = get("file")
        a = get("annotator")
        if "file" in cols and not f:
            raise AnnotationError(path, line, "missing value", field="file")
        if "annotator" in cols and not a:
            raise AnnotationError(path, line, "missing value", field="annotator")
        recs.append((
            line,
            f if f is not None else default_file,
            _number(path, line, "time", get("time")),
            a if a is not None else annotator,
            _number(path, line, "valence", get("valence")) if "valence" in cols else np.nan,
            _number(path, line, "arousal", get("arousal")) if "arousal" in cols else np.nan,
        ))
    return recs


def _read_darma(path: Path, rows, header: tuple[int, list[str]] | None, *, file, annotator):
    rec_name, ann_name = _names_from_path(path)
    rec_name = file if file is not None else rec_name
    ann_name = annotator if annotator is not None else ann_name
    idx = {"time": 0, "valence": 1, "arousal": 2}
    if header is not None:
        cols = _canonical_header(header[1])
        if "time" in cols and ("valence" in cols or "arousal" in cols):
            idx = {k: cols[k] for k in ("time", "valence", "arousal") if k in cols}
    need = max(idx.values()) + 1
    recs = []
    for line, fields in rows:
        if len(fields) < need:
            raise AnnotationError(path, line, f"expected {need} values (time, valence, arousal), found {len(fields)}")
        recs.append((
            line, rec_name,
            _number(path, line, "time", fields[idx["time"]]),
            ann_name,
            _number(path, line, "valence", fields[idx["valence"]]) if "valence" in idx else np.nan,
            _number(path, line, "arousal", fields[idx["arousal"]]) if "arousal" in idx else np.nan,
        ))
    return recs


def _read_one(path: Path, *, scale, file, annotator, fmt) -> pd.DataFrame:
    if fmt not in ("auto", "long", "darma"):
        raise ValueError(f"unknown annotation format {fmt!r} (auto, long, darma)")
    rows = _sniff_rows(path)
    if not rows:
        raise AnnotationError(path, None, "empty annotation file")
    # the data start at the first line whose first field is a number; anything before is a
    # preamble, the line just before the data is the header (if it names columns)
    first = next((k for k, (_, f) in enumerate(rows) if f and _is_number(f[0])), None)
    header = rows[first - 1] if first not in (None, 0) else None
    if first is None:
        # no line starts with a number: a long CSV's first column may be the file name
        header = rows[0]
        first = 1
    cols = _canonical_header(header[1]) if header else {}
    is_long = fmt == "long" or (fmt == "auto" and ("file" in cols or "annotator" in cols))
    data = rows[first:]
    if is_long:
        if header is None:
            raise AnnotationError(path, rows[0][0], "a long annotation CSV needs a header "
                                  "(file,time,annotator,valence,arousal)")
        recs = _read_long(path, data, header[0], cols, file=file, annotator=annotator)
    else:
        if header is not None and first == 1 and not _canonical_header(header[1]):
            # no number-led line at all and a header that names nothing we know
            raise AnnotationError(path, header[0], "no numeric data lines and no recognisable header "
                                  "(expected time,x,y / time,valence,arousal or file,time,annotator,valence,arousal)")
        if header is not None and data and not _canonical_header(header[1]):
            hf = header[1]
            if len(hf) == len(data[0][1]) and sum(_is_number(f) for f in hf) >= 2:
                # not a header but a data line with a bad first value
                raise AnnotationError(path, header[0], f"{hf[0]!r} is not a number", field="time")
        recs = _read_darma(path, data, header, file=file, annotator=annotator)
    if not recs:
        raise AnnotationError(path, None, "no annotation values")
    lines = np.array([r[0] for r in recs])
    df = pd.DataFrame([r[1:] for r in recs], columns=COLUMNS)
    df["file"] = df["file"].astype(str)
    df["annotator"] = df["annotator"].astype(str)

    # scale: explicit, else [-1000, 1000] when any value is beyond 1
    vals = df[list(DIMENSIONS)].to_numpy(float)
    if scale is None:
        peak = np.nanmax(np.abs(vals)) if np.isfinite(vals).any() else 0.0
        scale = 1000.0 if peak > 1.0 else 1.0
    scale = float(scale)
    if scale <= 0:
        raise ValueError("scale must be positive")
    for dim in DIMENSIONS:
        bad = np.flatnonzero(np.abs(df[dim].to_numpy(float)) > scale * (1 + 1e-9))
        if bad.size:
            k = bad[0]
            raise AnnotationError(path, int(lines[k]), f"value {df[dim].iloc[k]:g} out of range "
                                  f"[{-scale:g}, {scale:g}]", field=dim)
        df[dim] = df[dim] / scale

    # times: non-negative and strictly increasing within each trace (in file order)
    t = df["time"].to_numpy(float)
    neg = np.flatnonzero(t < 0)
    if neg.size:
        raise AnnotationError(path, int(lines[neg[0]]), f"negative time {t[neg[0]]:g}", field="time")
    for pos in df.groupby(["file", "annotator"], sort=False).indices.values():
        tt = t[pos]
        bad = np.flatnonzero(np.diff(tt) <= 0)
        if bad.size:
            k = pos[bad[0] + 1]
            raise AnnotationError(path, int(lines[k]), f"time {t[k]:g} does not increase "
                                  f"(previous sample at {tt[bad[0]]:g})", field="time")
    df.attrs["source"] = str(path)
    return df


def read_continuous(
    paths: str | Path | Iterable[str | Path],
    *,
    scale: float | None = None,
    file: str | Sequence[str] | Mapping[str, str] | None = None,
    annotator: str | Sequence[str] | Mapping[str, str] | None = None,
    fmt: str = "auto",
) -> pd.DataFrame:
    """Read continuous annotations (long CSVs and/or DARMA exports) into the long format.

    ``paths``: files, or folders whose ``.csv`` / ``.txt`` / ``.tsv`` files are read.
    ``scale``: the value that means full scale (1000 for paper 000's DARMA set-up); default:
    1000 when any value of a file is beyond 1, else 1. ``file`` / ``annotator``: the recording /
    annotator names of DARMA exports (one value, one per path, or a mapping path -> name);
    default: from the file name (see the module doc). ``fmt``: ``auto``, ``long`` or ``darma``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    expanded: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():  # a folder of exports: its .csv / .txt / .tsv files
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in (".csv", ".txt", ".tsv"))
            if not found:
                raise AnnotationError(p, None, "folder holds no .csv / .txt / .tsv annotation files")
            expanded.extend(found)
        else:
            expanded.append(p)
    paths = expanded
    if not paths:
        raise AnnotationError(None, None, "no annotation files given")
    frames = []
    seen: dict[tuple[str, str], Path] = {}
    for i, p in enumerate(paths):
        df = _read_one(p, scale=scale, file=_pick(file, i, p), annotator=_pick(annotator, i, p), fmt=fmt)
        for key in df.groupby(["file", "annotator"], sort=False).groups:
            if key in seen and seen[key] != p:
                raise AnnotationError(p, None, f"annotator {key[1]!r} of recording {key[0]!r} is also in {seen[key]}")
            seen[key] = p
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    return _sorted(out)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(["file", "annotator", "time"], kind="stable").reset_index(drop=True)
    return df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]


def write_continuous(df: pd.DataFrame, path: str | Path) -> Path:
    """Write annotations (long format) as CSV; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format="%.6g")
    return path


def read_gold(path: str | Path) -> pd.DataFrame:
    """Read a gold-standard CSV written by :func:`gold_standard` / ``callemo annotations gold``
    (``file, time, valence, arousal[, n_annotators]``)."""
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(p, None, "file not found")
    try:
        df = pd.read_csv(p, dtype={"file": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise AnnotationError(p, None, f"not a readable CSV ({e})") from None
    for c in ("file", "time"):
        if c not in df.columns:
            raise AnnotationError(p, 1, f"missing column {c!r}")
    if not any(d in df.columns for d in DIMENSIONS):
        raise AnnotationError(p, 1, "missing columns 'valence' and 'arousal'")
    for c in ["time"] + [d for d in DIMENSIONS if d in df.columns]:
        v = pd.to_numeric(df[c], errors="coerce")
        bad = np.flatnonzero(v.isna().to_numpy() & df[c].notna().to_numpy())
        if bad.size:
            raise AnnotationError(p, int(bad[0]) + 2, f"{df[c].iloc[bad[0]]!r} is not a number", field=c)
        df[c] = v
    return df


def check_frame(df: pd.DataFrame) -> None:
    """Raise ValueError unless ``df`` is a long annotation frame."""
    missing = [c for c in ("file", "time", "annotator") if c not in df.columns]
    if missing or not any(d in df.columns for d in DIMENSIONS):
        raise ValueError(f"continuous annotations need columns {COLUMNS}; missing {missing or list(DIMENSIONS)}")


# -------------------------------------------------------------------------------------- resampling

def _interp(t: np.ndarray, v: np.ndarray, grid: np.ndarray, method: str) -> np.ndarray:
    ok = np.isfinite(v)
    t, v = t[ok], v[ok]
    if len(t) == 0:
        return np.full(len(grid), np.nan)
    if len(t) == 1:
        return np.full(len(grid), v[0])
    if method == "cubic":
        from scipy.interpolate import CubicSpline

        y = CubicSpline(t, v)(grid)
        return np.clip(y, -1.0, 1.0)  # a spline may overshoot the scale
    if method == "linear":
        return np.interp(grid, t, v)
    if method in ("previous", "hold"):  # sample and hold: the value last set by the annotator
        k = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(t) - 1)
        return v[k]
    if method == "nearest":
        k = np.clip(np.searchsorted(t, grid), 1, len(t) - 1)
        left = grid - t[k - 1] <= t[k] - grid
        return np.where(left, v[k - 1], v[k])
    raise ValueError(f"unknown resampling method {method!r} (cubic, linear, previous, nearest)")


def resample_traces(
    df: pd.DataFrame,
    rate_hz: float,
    method: str = "cubic",
    *,
    span: str = "common",
) -> pd.DataFrame:
    """Resample every trace onto a common grid of ``rate_hz`` per recording.

    The grid is ``k / rate_hz``; with ``span="common"`` (default) it covers the time all
    annotators of a recording share (no extrapolation); with ``span="union"`` it covers every
    annotator's trace and each trace is held constant beyond its ends. ``method``: ``cubic``
    (scipy CubicSpline, paper 000; clipped to [-1, 1]), ``linear``, ``previous`` (sample and
    hold) or ``nearest``.
    """
    check_frame(df)
    if not rate_hz or rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    dims = [d for d in DIMENSIONS if d in df.columns]
    out = []
    for fname, g in df.groupby("file", sort=True):
        traces = {a: tg.sort_values("time") for a, tg in g.groupby("annotator", sort=True)}
        starts = [tg["time"].iloc[0] for tg in traces.values()]
        ends = [tg["time"].iloc[-1] for tg in traces.values()]
        lo, hi = (max(starts), min(ends)) if span == "common" else (min(starts), max(ends))
        if span not in ("common", "union"):
            raise ValueError("span must be 'common' or 'union'")
        k0, k1 = math.ceil(lo * rate_hz - 1e-9), math.floor(hi * rate_hz + 1e-9)
        if k1 < k0:
            raise AnnotationError(fname, None, "the annotators' traces do not overlap in time")
        grid = np.arange(k0, k1 + 1) / rate_hz
        for ann, tg in traces.items():
            t = tg["time"].to_numpy(float)
            if np.any(np.diff(t) <= 0):
                raise AnnotationError(fname, None, f"annotator {ann!r}: times are not strictly increasing")
            rec = {"file": fname, "time": grid, "annotator": ann}
            for d in dims:
                y = _interp(t, tg[d].to_numpy(float), grid, method)
                if span == "union" and len(t):
                    v = tg[d].to_numpy(float)
                    y = np.where(grid < t[0], v[0], np.where(grid > t[-1], v[-1], y))
                rec[d] = y
            out.append(pd.DataFrame(rec))
    if not out:
        return pd.DataFrame(columns=COLUMNS)
    res = pd.concat(out, ignore_index=True)
    for d in DIMENSIONS:
        if d not in res.columns:
            res[d] = np.nan
    return _sorted(res)


def traces_wide(df: pd.DataFrame, file: str, dimension: str) -> pd.DataFrame:
    """One recording's traces of one dimension as a (time x annotator) table."""
    g = df[df["file"] == file]
    if g.empty:
        raise KeyError(f"no annotations of recording {file!r}")
    return g.pivot_table(index="time", columns="annotator", values=dimension, aggfunc="first", dropna=False)


# ---------------------------------------------------------------------------------- gold standard

def _ewe(wide: pd.DataFrame) -> np.ndarray:
    """Evaluator weighted estimator: annotators weighted by their correlation with the others' mean."""
    x = wide.to_numpy(float)
    n = x.shape[1]
    if n < 3:
        return np.nanmean(x, axis=1)
    w = np.empty(n)
    for j in range(n):
        others = np.nanmean(np.delete(x, j, axis=1), axis=1)
        ok = np.isfinite(x[:, j]) & np.isfinite(others)
        r = np.corrcoef(x[ok, j], others[ok])[0, 1] if ok.sum() > 2 else np.nan
        w[j] = max(r, 0.0) if np.isfinite(r) else 0.0
    if w.sum() <= 0:
        return np.nanmean(x, axis=1)
    m = np.isfinite(x)
    return np.nansum(x * w, axis=1) / np.maximum((m * w).sum(axis=1), 1e-12)


GOLD_RULES: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "mean": lambda w: w.mean(axis=1, skipna=True).to_numpy(float),
    "median": lambda w: w.median(axis=1, skipna=True).to_numpy(float),
    "ewe": _ewe,
}


def register_gold_rule(name: str, fn: Callable[[pd.DataFrame], np.ndarray]) -> None:
    """Add a named gold-standard rule: ``fn(wide)`` gets a (time x annotator) table of one
    recording and dimension and returns one value per time."""
    GOLD_RULES[name] = fn


def gold_standard(
    df: pd.DataFrame,
    rule: str | Callable[[pd.DataFrame], np.ndarray] = "mean",
    *,
    rate_hz: float | None = None,
    method: str = "cubic",
) -> pd.DataFrame:
    """Combine the annotators of every recording into one trace per dimension.

    Returns columns ``file, time, valence, arousal, n_annotators``. The annotators' traces must
    share their time grid; give ``rate_hz`` to resample them first (with ``method``).
    ``rule``: ``mean`` (paper 000), ``median``, ``ewe`` (evaluator weighted estimator), a name
    registered with :func:`register_gold_rule`, or a callable ``fn(wide) -> values`` taking a
    (time x annotator) table.
    """
    check_frame(df)
    if rate_hz is not None:
        df = resample_traces(df, rate_hz, method=method)
    if callable(rule):
        fn = rule
    else:
        if rule not in GOLD_RULES:
            raise ValueError(f"unknown gold-standard rule {rule!r} ({', '.join(GOLD_RULES)} or a callable)")
        fn = GOLD_RULES[rule]
    dims = [d for d in DIMENSIONS if d in df.columns]
    out = []
    for fname, g in df.groupby("file", sort=True):
        counts = g.groupby("time")["annotator"].nunique()
        n_ann = g["annotator"].nunique()
        if (counts < n_ann).any():
            raise AnnotationError(fname, None, "the annotators' samples are at different times; "
                                  "resample them first (rate_hz=, e.g. 2 Hz)")
        rec = {"file": fname}
        for d in dims:
            wide = g.pivot_table(index="time", columns="annotator", values=d, aggfunc="first", dropna=False)
            vals = np.asarray(fn(wide), dtype=float).reshape(-1)
            if len(vals) != len(wide):
                raise ValueError(f"gold-standard rule returned {len(vals)} values for {len(wide)} times")
            rec["time"] = wide.index.to_numpy(float)
            rec[d] = vals
        rec["n_annotators"] = n_ann
        out.append(pd.DataFrame(rec))
    cols = ["file", "time", "valence", "arousal", "n_annotators"]
    if not out:
        return pd.DataFrame(columns=cols)
    res = pd.concat(out, ignore_index=True)
    for d in DIMENSIONS:
        if d not in res.columns:
            res[d] = np.nan
    return res[cols]


# ------------------------------------------------------------------------------ segments x traces

def _recording_key(name: str) -> str:
    return Path(str(name)).stem


def attach_gold(items: pd.DataFrame, gold: pd.DataFrame, *, file_column: str | None = None,
                drop_missing: bool = False) -> pd.DataFrame:
    """Add ``valence`` / ``arousal`` = the mean of a gold standard over each item's [start, end].

    ``items`` has a file column (``file`` or ``path``; recordings are matched by name, then by
    file stem, so ``calls/call01.wav`` matches the trace of ``call01``) and ``start`` / ``end``
    (NaN = the whole recording). Items without a trace get NaN, or are dropped with
    ``drop_missing`` (e.g. recordings removed by the ICC filter).
    """
    col = file_column or ("file" if "file" in items.columns else "path")
    out = items.copy()
    by_name = {str(f): g for f, g in gold.groupby("file")}
    by_stem = {_recording_key(f): g for f, g in by_name.items()}
    vals = {d: np.full(len(out), np.nan) for d in DIMENSIONS}
    found = np.zeros(len(out), bool)
    starts = out["start"].to_numpy(float) if "start" in out.columns else np.full(len(out), np.nan)
    ends = out["end"].to_numpy(float) if "end" in out.columns else np.full(len(out), np.nan)
    for i, f in enumerate(out[col].astype(str)):
        g = by_name.get(f)
        if g is None:
            g = by_stem.get(_recording_key(f))
        if g is None:
            continue
        found[i] = True
        t = g["time"].to_numpy(float)
        s = -np.inf if np.isnan(starts[i]) else starts[i]
        e = np.inf if np.isnan(ends[i]) else ends[i]
        sel = (t >= s) & (t <= e)
        if not sel.any():  # a segment shorter than the label period: nearest sample
            sel = np.zeros(len(t), bool)
            sel[np.argmin(np.abs(t - (s + e) / 2 if np.isfinite(s + e) else t))] = True
        for d in DIMENSIONS:
            if d in g.columns:
                v = g[d].to_numpy(float)[sel]
                vals[d][i] = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
    for d in DIMENSIONS:
        out[d] = vals[d]
    if drop_missing:
        out = out[found].reset_index(drop=True)
    return out




def traces_from_gold(gold: pd.DataFrame, files: Sequence[str], label_hop: float,
                     durations: Sequence[float]) -> list[np.ndarray]:
    """``(n_labels, 2)`` (valence, arousal) arrays, one per recording of ``files``, on the grid
    ``k * label_hop`` (``k * label_hop < duration``), from a gold standard frame (``file, time,
    valence, arousal``): cubic-spline resampling through :func:`resample_traces`, held constant
    beyond the annotated span. The targets of the continuous regressor's training."""
    g = gold.copy()
    if "annotator" not in g.columns:
        g["annotator"] = "gold"
    res = resample_traces(g[["file", "time", "annotator", "valence", "arousal"]], 1.0 / label_hop, "cubic")
    out = []
    for f, dur in zip(files, durations):
        r = res[res["file"] == f].sort_values("time")
        if r.empty:
            raise AnnotationError(None, None, f"no annotations for recording {f!r} in the gold standard")
        n = max(1, math.ceil(dur / label_hop - 1e-9))
        t = np.arange(n) * label_hop
        tr = np.stack([np.interp(t, r["time"].to_numpy(), r[d].to_numpy()) for d in ("valence", "arousal")], 1)
        out.append(tr.astype(np.float32))
    return out


__all__ = [
    "COLUMNS",
    "DIMENSIONS",
    "GOLD_RULES",
    "AnnotationError",
    "attach_gold",
    "check_frame",
    "gold_standard",
    "read_continuous",
    "read_gold",
    "register_gold_rule",
    "resample_traces",
    "traces_from_gold",
    "traces_wide",
    "write_continuous",
]
