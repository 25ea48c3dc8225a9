"""Categorical annotations by two or more annotators: reading, gold labels, harmonisation.

File formats read by :func:`read_categorical` (CSV, header required):

* **long**: one row per item and annotator::

      file,start,end,speaker,annotator,label
      calls/c001.wav,12.5,17.0,c001_client,ann1,neutral
      calls/c001.wav,12.5,17.0,c001_client,ann2,angry

  ``file`` (or ``path``) names the recording; ``start``/``end`` (seconds, optional: empty = the
  whole file) or ``segment`` (an id, or the path of a segment's own audio file when there is no
  ``file`` column) name the item; ``label`` may be called ``emotion``; ``speaker`` is optional
  (default: the recording's name, so that folds group by conversation as paper 001 does; with a
  ``role`` column, ``<recording>_<role>``). Other columns (``valence``, ``arousal``, ``gender``,
  context...) are carried into the manifest.
* **wide**: one row per item, one column per annotator named ``label_<annotator>`` (or
  ``emotion_<annotator>``)::

      file,start,end,speaker,label_ann1,label_ann2

Gold-label rules (:func:`gold_labels`), applied per item:

* ``majority``: the most frequent label; a tie is discarded (``tie="discard"``), resolved
  towards the emotional label (``tie="emotional-wins"``) or to the first annotator's label
  (``tie="first"``);
* ``emotional-wins`` (paper 001): unanimous items keep their label; when the annotators disagree,
  the neutral votes give way to the emotional ones (Neutral vs Angry -> Angry); if the emotional
  votes themselves disagree, their majority wins and a tie is discarded;
* ``discard``: only unanimous items are kept.

Harmonisation (:func:`harmonise`) reuses :mod:`callemo.labels.schemes`: canonical label names
(``anger`` -> ``angry``; unknown names like ``nervous`` are kept, lower-cased) and ``merge``
are applied to every annotator's label *before* the gold rule (so merged classes agree), then
the gold rule, then classes under ``min_count`` items are dropped (paper 001: 30), then, with
``binary``, the neutral labels (``neutral``, ``calm``) become ``neutral`` and all others
``emotional``. :func:`to_manifest` / :func:`write_gold_manifest` write the result as a manifest
that :func:`callemo.train.manifest.read_manifest` (and so ``callemo train``) accepts.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .continuous import AnnotationError, read_text_csv

RULES = ("majority", "emotional-wins", "discard")
TIE_RULES = ("discard", "emotional-wins", "first")
NEUTRAL_LABELS = ("neutral", "calm")
KEY = ["file", "start", "end", "segment"]
_FILE_ALIASES = ("file", "path", "recording", "audio", "call")
_LABEL_ALIASES = ("label", "emotion", "category", "class")
_ANN_ALIASES = ("annotator", "rater", "coder")
_WIDE_PREFIXES = ("label_", "emotion_")


# ----------------------------------------------------------------------------------------- reading

def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def read_categorical(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read categorical annotations (long or wide CSV) into the long form.

    Returns columns ``file`` (absolute path when it looks like a path, resolved against the
    CSV's folder or ``root``), ``start``, ``end`` (float, NaN = whole file), ``segment`` (str or
    empty), ``speaker``, ``annotator``, ``label`` (stripped, as written) and the extra columns,
    plus ``line`` (the line of the CSV each row came from). Raises :class:`AnnotationError`
    naming the file and line.
    """
    p, raw = read_text_csv(path)
    lower = {c.lower(): c for c in raw.columns}
    raw["line"] = np.arange(len(raw)) + 2
    if len(raw) == 0:
        raise AnnotationError(p, 1, "header but no annotation rows")

    file_col = next((lower[a] for a in _FILE_ALIASES if a in lower), None)
    seg_col = lower.get("segment")
    if file_col is None and seg_col is None:
        raise AnnotationError(p, 1, "missing column 'file' (or 'path' / 'segment'); "
                                    f"found: {', '.join(raw.columns[:-1])}")
    wide_cols = [c for c in raw.columns if c.lower().startswith(_WIDE_PREFIXES) and len(c) > 6]
    label_col = next((lower[a] for a in _LABEL_ALIASES if a in lower), None)
    ann_col = next((lower[a] for a in _ANN_ALIASES if a in lower), None)
    if wide_cols and ann_col is None:
        ids = [c for c in raw.columns if c not in wide_cols]
        long = raw.melt(id_vars=ids, value_vars=wide_cols, var_name="annotator", value_name="label")
        long["annotator"] = long["annotator"].str.split("_", n=1).str[1]
        long = long.sort_values(["line", "annotator"], kind="stable")
        # a blank cell in the wide form = that annotator did not label the item
        long = long[long["label"].str.strip() != ""]
        ann_col, label_col = "annotator", "label"
    else:
        long = raw
        if label_col is None:
            raise AnnotationError(p, 1, "missing column 'label' (or 'emotion'), or wide columns 'label_<annotator>'")
        if ann_col is None:
            raise AnnotationError(p, 1, "missing column 'annotator' (or wide columns 'label_<annotator>')")

    base = Path(root) if root is not None else p.resolve().parent
    out = pd.DataFrame({"line": long["line"].to_numpy()})
    lines = out["line"].to_numpy()

    def num(col):
        vals = np.full(len(long), np.nan)
        if col is None:
            return vals
        for i, v in enumerate(long[col].tolist()):
            if _blank(v):
                continue
            try:
                vals[i] = float(v)
            except ValueError:
                raise AnnotationError(p, int(lines[i]), f"{v!r} is not a number", field=col) from None
            if not np.isfinite(vals[i]) or vals[i] < 0:
                raise AnnotationError(p, int(lines[i]), f"{v!r} is not a time in seconds", field=col)
        return vals

    start, end = num(lower.get("start")), num(lower.get("end"))
    bad = np.flatnonzero(np.isfinite(end) & (end <= np.nan_to_num(start, nan=0.0)))
    if bad.size:
        i = bad[0]
        raise AnnotationError(p, int(lines[i]), f"end {end[i]:g} is not after start {np.nan_to_num(start[i]):g}",
                              field="end")

    def text(col, name, required):
        if col is None:
            return [""] * len(long)
        vals = [str(v).strip() for v in long[col].tolist()]
        if required:
            for i, v in enumerate(vals):
                if not v:
                    raise AnnotationError(p, int(lines[i]), "missing value", field=name)
        return vals

    files = text(file_col, "file", file_col is not None)
    segs = text(seg_col, "segment", file_col is None)
    if file_col is None:
        files = segs  # each segment is its own audio file
    out["file"] = [_resolve(f, base) for f in files]
    out["start"], out["end"] = start, end
    out["segment"] = segs
    labels = text(label_col, "label", True)
    anns = text(ann_col, "annotator", True)
    out["annotator"], out["label"] = anns, labels
    spk_col = lower.get("speaker")
    role_col = lower.get("role")
    spk = text(spk_col, "speaker", False)
    roles = text(role_col, "role", False)
    out["speaker"] = [s or (Path(f).stem + (f"_{r}" if r else "")) for s, f, r in zip(spk, files, roles)]
    used = {file_col, seg_col, lower.get("start"), lower.get("end"), label_col, ann_col, spk_col, "line", "annotator",
            "label"}
    for c in long.columns:
        if c not in used and c not in out.columns:
            out[c] = long[c].to_numpy()
    out["segment"] = out["segment"].astype(str)

    dup = out.duplicated(["file", "start", "end", "segment", "annotator"], keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise AnnotationError(p, int(lines[i]), f"annotator {anns[i]!r} labels this item twice")
    out.attrs["source"] = str(p)
    return out.reset_index(drop=True)


def _resolve(f: str, base: Path) -> str:
    if not f:
        return f
    fp = Path(f).expanduser()
    if fp.suffix == "" and "/" not in f and "\\" not in f:
        return f  # an id, not a path
    if not fp.is_absolute():
        fp = base / fp
    return os.path.normpath(str(fp.absolute()))


def items_wide(df: pd.DataFrame) -> pd.DataFrame:
    """Long annotations as an (item x annotator) label table (item = file, start, end, segment)."""
    d = df.copy()
    for c in ("start", "end"):
        d[c] = d[c].fillna(-1.0)  # NaN keys do not pivot
    w = d.pivot_table(index=["file", "start", "end", "segment"], columns="annotator", values="label",
                      aggfunc="first")
    w = w.reset_index()
    for c in ("start", "end"):
        w[c] = w[c].where(w[c] >= 0, np.nan)
    return w.set_index(["file", "start", "end", "segment"])


# ------------------------------------------------------------------------------------- gold rules

def _is_neutral(label: str, neutral: Sequence[str]) -> bool:
    return label in neutral


def gold_label(labels: Sequence[str], rule: str = "majority", *, tie: str = "discard",
               neutral: Sequence[str] = NEUTRAL_LABELS) -> str | None:
    """The gold label of one item from its annotators' labels (``None`` = discard)."""
    labs = [x for x in labels if not _blank(x)]
    if not labs:
        return None
    counts = Counter(labs)
    if len(counts) == 1:
        return labs[0]
    if rule == "discard":
        return None
    if rule == "majority":
        top = counts.most_common()
        best = [lab for lab, c in top if c == top[0][1]]
        if len(best) == 1:
            return best[0]
        if tie == "discard":
            return None
        if tie == "first":
            return next(x for x in labs if x in best)
        if tie == "emotional-wins":
            emotional = [b for b in best if not _is_neutral(b, neutral)]
            return emotional[0] if len(emotional) == 1 else None
        raise ValueError(f"unknown tie rule {tie!r} ({', '.join(TIE_RULES)})")
    if rule == "emotional-wins":
        emo = Counter(x for x in labs if not _is_neutral(x, neutral))
        if not emo:  # disagreement among neutral-like labels (neutral vs calm): majority or discard
            top = counts.most_common()
            return top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else None
        top = emo.most_common()
        return top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else None
    raise ValueError(f"unknown gold rule {rule!r} ({', '.join(RULES)})")


def gold_labels(df: pd.DataFrame, rule: str = "majority", *, tie: str = "discard",
                neutral: Sequence[str] = NEUTRAL_LABELS, keep_discarded: bool = False) -> pd.DataFrame:
    """One row per item with its gold ``emotion``.

    Columns: ``file, start, end, segment, speaker, emotion, agreement`` (share of the annotators
    who gave the gold label), ``n_annotators``, ``label_<annotator>`` (each annotator's label) and
    the carried extra columns (kept when the annotators' rows agree on them; numbers that differ
    are averaged). Discarded items are dropped, or kept with an empty emotion when
    ``keep_discarded``.
    """
    if rule not in RULES:
        raise ValueError(f"unknown gold rule {rule!r} ({', '.join(RULES)})")
    if tie not in TIE_RULES:
        raise ValueError(f"unknown tie rule {tie!r} ({', '.join(TIE_RULES)})")
    d = df.copy()
    for c in ("start", "end"):
        d[c + "_key"] = d[c].fillna(-1.0)
    keys = ["file", "start_key", "end_key", "segment"]
    annotators = list(dict.fromkeys(d["annotator"]))
    extra = [c for c in d.columns if c not in {"file", "start", "end", "segment", "speaker", "annotator", "label",
                                                "line", "start_key", "end_key"}]
    rows = []
    for _, g in d.groupby(keys, sort=False):
        labs = g["label"].tolist()
        gold = gold_label(labs, rule, tie=tie, neutral=neutral)
        if gold is None and not keep_discarded:
            continue
        r = g.iloc[0]
        rec = {"file": r["file"], "start": r["start"], "end": r["end"], "segment": r["segment"],
               "speaker": r["speaker"], "emotion": gold if gold is not None else "",
               "agreement": (sum(1 for x in labs if x == gold) / len(labs)) if gold is not None else 0.0,
               "n_annotators": len(labs)}
        by_ann = dict(zip(g["annotator"], labs))
        for a in annotators:
            rec[f"label_{a}"] = by_ann.get(a, "")
        for c in extra:
            vals = [v for v in g[c].tolist() if not _blank(v)]
            if not vals:
                rec[c] = ""
            elif len(set(map(str, vals))) == 1:
                rec[c] = vals[0]
            else:
                try:
                    rec[c] = float(np.mean([float(v) for v in vals]))
                except (TypeError, ValueError):
                    rec[c] = ""  # annotators disagree on a text field: leave it empty
        rows.append(rec)
    cols = ["file", "start", "end", "segment", "speaker", "emotion", "agreement", "n_annotators"]
    out = pd.DataFrame(rows) if rows else pd.DataFrame(columns=cols)
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------- harmonisation

@dataclass
class HarmoniseResult:
    """Gold items after harmonisation plus what happened on the way (counts for the report)."""

    items: pd.DataFrame
    agreement: dict
    steps: list[tuple[str, int]] = field(default_factory=list)  # (step, items left)
    dropped_classes: list[str] = field(default_factory=list)

    def counts(self) -> pd.Series:
        return self.items["emotion"].value_counts()


def canonical_labels(df: pd.DataFrame, column: str = "label") -> pd.DataFrame:
    """Canonical label names through :func:`callemo.labels.schemes.canonicalize`."""
    from .schemes import canonicalize

    return canonicalize(df, column)


def _merge_map(merge: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """``{"annoyed": "angry"}`` or ``["annoyed=angry", ...]`` -> canonical mapping."""
    from .schemes import canonical_label

    if not merge:
        return {}
    pairs: list[tuple[str, str]]
    if isinstance(merge, Mapping):
        pairs = list(merge.items())
    else:
        pairs = []
        for m in merge:
            if "=" not in str(m):
                raise ValueError(f"merge {m!r} is not of the form label=target")
            a, b = str(m).split("=", 1)
            pairs.append((a, b))
    out = {}
    for a, b in pairs:
        if not str(a).strip() or not str(b).strip():
            raise ValueError(f"merge {a}={b}: empty label")
        out[canonical_label(a)] = canonical_label(b)
    return out


def to_binary(df: pd.DataFrame, column: str = "emotion", *, neutral: Sequence[str] = NEUTRAL_LABELS) -> pd.DataFrame:
    """Neutral vs emotional (paper 001): the ``neutral`` labels become ``neutral``, every other
    label ``emotional``; through :func:`callemo.labels.schemes.apply_setting` (``binary``)."""
    from .schemes import apply_setting, merge_labels

    labels = set(df[column].dropna())
    mapping = {lab: ("neutral" if lab in neutral else "emotional") for lab in labels
               if lab not in ("neutral", "emotional")}
    out = merge_labels(df, mapping, column=column) if mapping else df.copy()
    return apply_setting(out, "binary", column=column)


def harmonise(
    annotations: pd.DataFrame,
    *,
    rule: str = "majority",
    tie: str = "discard",
    min_count: int = 0,
    merge: Mapping[str, str] | Iterable[str] | None = None,
    binary: bool = False,
    neutral: Sequence[str] = NEUTRAL_LABELS,
    canonical: bool = True,
) -> HarmoniseResult:
    """Annotations (long form, see :func:`read_categorical`) -> harmonised gold items.

    Order: canonical names -> ``merge`` (per annotator) -> agreement -> gold rule ->
    drop classes under ``min_count`` (:func:`callemo.labels.schemes.drop_rare`) -> ``binary``.
    """
    from .agreement import categorical_agreement
    from .schemes import drop_rare, merge_labels

    d = annotations.copy()
    n_items = d.groupby(["file", "segment", d["start"].fillna(-1), d["end"].fillna(-1)]).ngroups
    steps = [("annotated items", int(n_items))]
    if canonical:
        d = canonical_labels(d, "label")
    else:
        d["label"] = d["label"].astype(str).str.strip().str.lower()
    neutral = tuple(str(n).strip().lower() for n in neutral)
    mapping = _merge_map(merge)
    if mapping:
        d = merge_labels(d, mapping, column="label")
    agreement = categorical_agreement(items_wide(d))
    gold = gold_labels(d, rule, tie=tie, neutral=neutral)
    steps.append((f"gold label ({rule})", len(gold)))
    dropped: list[str] = []
    if min_count and min_count > 1 and len(gold):
        before = set(gold["emotion"])
        gold = drop_rare(gold, int(min_count), column="emotion")
        dropped = sorted(before - set(gold["emotion"]))
        steps.append((f"classes with >= {min_count} items", len(gold)))
    if binary and len(gold):
        gold = to_binary(gold, "emotion", neutral=neutral)
        steps.append(("binary neutral/emotional", len(gold)))
    return HarmoniseResult(items=gold.reset_index(drop=True), agreement=agreement, steps=steps,
                           dropped_classes=dropped)


def to_manifest(items: pd.DataFrame) -> pd.DataFrame:
    """Gold items -> manifest rows (``path, start, end, speaker, emotion`` first, then the rest)."""
    m = items.copy().rename(columns={"file": "path"})
    if "segment" in m.columns and (m["segment"].astype(str) == "").all():
        m = m.drop(columns="segment")
    first = ["path", "start", "end", "speaker", "emotion"]
    return m[first + [c for c in m.columns if c not in first]]


__all__ = [
    "NEUTRAL_LABELS",
    "RULES",
    "TIE_RULES",
    "HarmoniseResult",
    "canonical_labels",
    "gold_label",
    "gold_labels",
    "harmonise",
    "items_wide",
    "read_categorical",
    "to_binary",
    "to_manifest",
]
