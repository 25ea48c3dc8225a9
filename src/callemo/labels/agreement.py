"""Inter-annotator agreement for continuous traces and categorical labels.

Continuous (per recording and dimension; targets = time points, raters = annotators):

* ``icc``: ICC(3,1), two-way mixed, single measures, consistency (Shrout & Fleiss 1979;
  McGraw & Wong's ICC(C,1)), through :func:`pingouin.intraclass_corr`, with its 95 % CI;
* ``pearson``: Pearson correlation, mean over annotator pairs;
* ``alpha``: Krippendorff's alpha (interval) through the ``krippendorff`` package, on values
  quantised to ``bins`` equally spaced levels of [-1, 1] (``bins=None``: raw values).

Categorical (per item = segment): raw agreement, Cohen's kappa (scikit-learn; mean over pairs
when more than two annotators), Fleiss' kappa (statsmodels) and Krippendorff's alpha (nominal).

Paper 000 keeps the recordings whose valence ICC exceeds 0.7: :func:`reliable_files`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import pandas as pd

from ..utils import plain
from .continuous import DIMENSIONS, AnnotationError, check_frame, resample_traces

DEFAULT_BINS = 21  # levels -1, -0.9, ..., 1
AlphaLevel = Literal["nominal", "ordinal", "interval", "ratio"]  # krippendorff's levels of measurement


# ------------------------------------------------------------------------------------------- ICC

def icc(ratings, *, kind: str = "ICC3", ci: bool = False):
    """Intraclass correlation of a (targets x raters) matrix through pingouin.

    ``kind``: ``ICC3`` = ICC(3,1) two-way mixed, single measures, consistency (default);
    ``ICC2`` = ICC(2,1) absolute agreement; ``ICC1``; ``ICC3k`` / ``ICC2k`` / ``ICC1k`` the
    average-measures forms. Targets with a missing rating are left out. Returns the coefficient
    (NaN when it cannot be computed: fewer than 2 raters or 2 complete targets, or no variance),
    or ``(coefficient, (low, high))`` with ``ci=True``.
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2:
        raise ValueError("ratings must be a (targets x raters) matrix")
    x = x[np.all(np.isfinite(x), axis=1)]
    nan = (float("nan"), (float("nan"), float("nan")))
    if x.shape[1] < 2 or x.shape[0] < 2 or np.ptp(x) == 0:
        return nan if ci else nan[0]
    order = ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
    if kind not in order:
        raise ValueError(f"unknown ICC kind {kind!r} ({', '.join(order)})")
    import pingouin as pg

    n, k = x.shape
    long = pd.DataFrame({
        "target": np.repeat(np.arange(n), k),
        "rater": np.tile(np.arange(k), n),
        "rating": x.reshape(-1),
    })
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            table = pg.intraclass_corr(data=long, targets="target", raters="rater", ratings="rating")
        except (ValueError, ZeroDivisionError, AssertionError):
            return nan if ci else nan[0]
    # pingouin names them ICC1..ICC3k (older) or ICC(1,1), ICC(A,1), ICC(C,1)... (newer); same order
    row = table.iloc[order.index(kind)]
    value = float(row["ICC"])
    if not ci:
        return value
    lo, hi = (float(v) for v in row["CI95%" if "CI95%" in row.index else "CI95"])
    return value, (lo, hi)


def mean_pairwise_pearson(ratings) -> float:
    """Mean Pearson correlation over all pairs of raters (columns) of a (targets x raters) matrix."""
    x = np.asarray(ratings, dtype=float)
    rs = []
    for i, j in itertools.combinations(range(x.shape[1]), 2):
        ok = np.isfinite(x[:, i]) & np.isfinite(x[:, j])
        a, b = x[ok, i], x[ok, j]
        if ok.sum() < 2 or a.std() == 0 or b.std() == 0:
            continue
        rs.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(rs)) if rs else float("nan")


def quantise(values, bins: int | None = DEFAULT_BINS, *, low: float = -1.0, high: float = 1.0):
    """Values mapped to the nearest of ``bins`` equally spaced levels of [low, high] (as level
    values; NaN stays NaN). ``bins=None`` returns the values unchanged."""
    x = np.asarray(values, dtype=float)
    if bins is None:
        return x
    if bins < 2:
        raise ValueError("bins must be at least 2")
    step = (high - low) / (bins - 1)
    k = np.clip(np.round((x - low) / step), 0, bins - 1)
    return np.where(np.isfinite(x), low + k * step, np.nan)


def krippendorff_alpha(ratings, level: AlphaLevel = "interval") -> float:
    """Krippendorff's alpha of a (items x raters) matrix (NaN = missing) through the
    ``krippendorff`` package. Non-numeric labels are coded as integers for ``nominal``."""
    import krippendorff

    data = pd.DataFrame(ratings)
    if level == "nominal" and not all(pd.api.types.is_numeric_dtype(t) for t in data.dtypes):
        cats = sorted({v for v in data.to_numpy().ravel() if not _missing(v)}, key=str)
        code = {c: i for i, c in enumerate(cats)}
        arr = data.apply(lambda col: col.map(lambda v: np.nan if _missing(v) else code[v])).to_numpy(float)
    else:
        arr = data.to_numpy(float)
    rel = arr.T  # krippendorff wants raters x units
    values = np.unique(rel[np.isfinite(rel)])
    if values.size < 2 or (np.isfinite(rel).sum(axis=0) >= 2).sum() < 1:
        return float("nan")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return float(krippendorff.alpha(reliability_data=rel, level_of_measurement=level))
        except (ValueError, ZeroDivisionError):
            return float("nan")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


# ----------------------------------------------------------------------------- continuous traces

def _shared_grid(df: pd.DataFrame) -> bool:
    for _, g in df.groupby("file"):
        if (g.groupby("time")["annotator"].nunique() < g["annotator"].nunique()).any():
            return False
    return True


def trace_agreement(wide: pd.DataFrame | np.ndarray, *, bins: int | None = DEFAULT_BINS) -> dict:
    """Agreement of one recording and dimension: a (time x annotator) table."""
    x = np.asarray(wide, dtype=float)
    complete = x[np.all(np.isfinite(x), axis=1)]
    value, (lo, hi) = icc(complete, kind="ICC3", ci=True)
    return {
        "icc": value,
        "icc_ci": [lo, hi],
        "pearson": mean_pairwise_pearson(complete),
        "alpha": krippendorff_alpha(quantise(x, bins), level="interval"),
        "n": len(complete),
        "n_annotators": int(x.shape[1]),
    }


def continuous_agreement(
    df: pd.DataFrame,
    *,
    dimensions: Iterable[str] = DIMENSIONS,
    rate_hz: float | None = None,
    method: str = "cubic",
    bins: int | None = DEFAULT_BINS,
) -> dict[str, dict[str, dict]]:
    """Agreement of continuous annotations: ``{file: {dimension: {"icc", "pearson", "alpha",
    "icc_ci", "n", "n_annotators"}}}``.

    The annotators' traces are resampled to ``rate_hz`` first when it is given, or at 2 Hz
    (paper 000's rate) when their samples are not at the same times.
    """
    check_frame(df)
    dims = list(dimensions)
    for d in dims:
        if d not in DIMENSIONS:
            raise ValueError(f"unknown dimension {d!r} (valence, arousal)")
    if rate_hz is not None:
        df = resample_traces(df, rate_hz, method=method)
    elif not _shared_grid(df):
        df = resample_traces(df, 2.0, method=method)
    out: dict[str, dict[str, dict]] = {}
    for fname, g in df.groupby("file", sort=True):
        out[str(fname)] = {}
        for d in dims:
            if d not in g.columns or g[d].isna().all():
                continue
            wide = g.pivot_table(index="time", columns="annotator", values=d, aggfunc="first", dropna=False)
            out[str(fname)][d] = trace_agreement(wide, bins=bins)
    return out


def agreement_table(report: Mapping[str, Mapping[str, Mapping]]) -> pd.DataFrame:
    """A continuous-agreement report as a flat table (one row per recording and dimension)."""
    rows = []
    for fname, dims in report.items():
        for d, m in dims.items():
            ci = m.get("icc_ci", [np.nan, np.nan])
            rows.append({"file": fname, "dimension": d, "icc": m["icc"], "icc_low": ci[0], "icc_high": ci[1],
                         "pearson": m["pearson"], "alpha": m["alpha"], "n": m.get("n"),
                         "n_annotators": m.get("n_annotators")})
    cols = ["file", "dimension", "icc", "icc_low", "icc_high", "pearson", "alpha", "n", "n_annotators"]
    return pd.DataFrame(rows, columns=cols)


def report_to_json(report: Mapping) -> dict:
    """The report with NaN turned into null, ready for :func:`json.dump`."""
    return plain(report)


def reliable_files(report: Mapping[str, Mapping[str, Mapping]], min_icc: float = 0.7,
                   dimension: str | Iterable[str] = "valence") -> list[str]:
    """Recordings whose ICC exceeds ``min_icc`` on ``dimension`` (or on every dimension listed).
    Paper 000 keeps valence ICC > 0.7."""
    dims = [dimension] if isinstance(dimension, str) else list(dimension)
    keep = []
    for fname, res in report.items():
        vals = [res.get(d, {}).get("icc", float("nan")) for d in dims]
        if all(v is not None and math.isfinite(v) and v > min_icc for v in vals):
            keep.append(fname)
    return keep


def filter_reliable(df: pd.DataFrame, min_icc: float = 0.7, dimension: str | Iterable[str] = "valence",
                    *, report: Mapping | None = None, **kwargs) -> pd.DataFrame:
    """The rows of ``df`` (annotations or a gold standard, with a ``file`` column) whose recording's
    ICC exceeds ``min_icc``; ``report`` is computed from ``df`` when not given."""
    if report is None:
        report = continuous_agreement(df, dimensions=[dimension] if isinstance(dimension, str) else dimension,
                                      **kwargs)
    keep = set(reliable_files(report, min_icc, dimension))
    return df[df["file"].astype(str).isin(keep)].reset_index(drop=True)


# ---------------------------------------------------------------------------------- categorical

def labels_wide(df: pd.DataFrame, *, item: str | list[str] = "item", annotator: str = "annotator",
                label: str = "label") -> pd.DataFrame:
    """Long categorical annotations (one row per item and annotator) as an (item x annotator) table."""
    keys = [item] if isinstance(item, str) else list(item)
    dup = df.duplicated([*keys, annotator])
    if dup.any():
        r = df[dup].iloc[0]
        raise AnnotationError(None, None, f"annotator {r[annotator]!r} labelled item "
                              f"{tuple(r[k] for k in keys)} twice")
    return df.pivot(index=keys, columns=annotator, values=label)


def cohen_kappa(a, b) -> float:
    """Cohen's kappa of two annotators' labels (scikit-learn), items missing in either left out."""
    from sklearn.metrics import cohen_kappa_score

    a, b = pd.Series(list(a), dtype=object), pd.Series(list(b), dtype=object)
    ok = ~(a.map(_missing) | b.map(_missing))
    a, b = a[ok].astype(str), b[ok].astype(str)
    if len(a) == 0:
        return float("nan")
    if set(a) | set(b) == {a.iloc[0]}:
        return float("nan")  # a single label everywhere: kappa undefined
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(a, b))


def fleiss_kappa(wide) -> float:
    """Fleiss' kappa (statsmodels) of an (items x annotators) label table; items with a missing
    label are left out (Fleiss needs the same number of ratings per item)."""
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as _fk

    w = pd.DataFrame(wide)
    w = w[~w.map(_missing).any(axis=1)] if hasattr(w, "map") else w[~w.applymap(_missing).any(axis=1)]
    if len(w) == 0 or w.shape[1] < 2:
        return float("nan")
    cats = sorted({str(v) for v in w.to_numpy().ravel()})
    if len(cats) < 2:
        return float("nan")
    codes = w.astype(str).apply(lambda c: c.map({k: i for i, k in enumerate(cats)})).to_numpy(int)
    table, _ = aggregate_raters(codes, n_cat=len(cats))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return float(_fk(table, method="fleiss"))


def categorical_agreement(wide: pd.DataFrame) -> dict:
    """Agreement of categorical labels, an (items x annotators) table (missing = NaN/empty).

    ``raw_agreement``: share of fully labelled items on which all annotators agree;
    ``pairwise_agreement``: mean over annotator pairs of their share of equal labels;
    ``cohen_kappa``: the two annotators' kappa, or the mean over pairs (Light's kappa);
    ``fleiss_kappa``; ``alpha`` (Krippendorff, nominal); ``pairs``: per-pair figures.
    """
    w = pd.DataFrame(wide).astype(object)
    anns = list(w.columns)
    miss = w.map(_missing) if hasattr(w, "map") else w.applymap(_missing)
    complete = w[~miss.any(axis=1)].astype(str)
    raw = float((complete.nunique(axis=1) == 1).mean()) if len(complete) else float("nan")
    pairs = {}
    for a, b in itertools.combinations(anns, 2):
        ok = ~(miss[a] | miss[b])
        agree = float((w.loc[ok, a].astype(str) == w.loc[ok, b].astype(str)).mean()) if ok.any() else float("nan")
        pairs[f"{a}|{b}"] = {"agreement": agree, "cohen_kappa": cohen_kappa(w.loc[ok, a], w.loc[ok, b]),
                             "n": int(ok.sum())}
    kappas = [p["cohen_kappa"] for p in pairs.values() if math.isfinite(p["cohen_kappa"])]
    agrees = [p["agreement"] for p in pairs.values() if math.isfinite(p["agreement"])]
    return {
        "n_items": len(w),
        "n_complete": len(complete),
        "n_annotators": len(anns),
        "raw_agreement": raw,
        "pairwise_agreement": float(np.mean(agrees)) if agrees else float("nan"),
        "cohen_kappa": float(np.mean(kappas)) if kappas else float("nan"),
        "fleiss_kappa": fleiss_kappa(w),
        "alpha": krippendorff_alpha(w.where(~miss, np.nan), level="nominal"),
        "pairs": pairs,
    }


__all__ = [
    "DEFAULT_BINS", "agreement_table", "categorical_agreement", "cohen_kappa", "continuous_agreement",
    "filter_reliable", "fleiss_kappa", "icc", "krippendorff_alpha", "labels_wide", "mean_pairwise_pearson",
    "quantise", "reliable_files", "report_to_json", "trace_agreement",
]
