"""Segments for emotion recognition, cut from speaker turns.

Paper 001 splits turns into pieces under 20 s and drops pieces under 2.5 s. Here nothing is
dropped silently:

* a turn longer than ``max_len`` is split into equal pieces of at most ``max_len`` seconds;
* a piece shorter than ``min_len`` is merged with the neighbouring piece of the same speaker when
  the gap between them is at most ``merge_gap`` seconds, nobody else speaks in between and the
  result stays within ``max_len``;
* what is still shorter than ``min_len`` stays in the table with ``unknown=True`` (the analysis
  gives it emotion ``unknown``, never a fabricated confident prediction).

Columns out: those of the input (``speaker``, ``role``, ``channel``, ``overlap``...) plus
``n_turns`` (turns merged into the segment), ``unknown`` (bool) and ``status`` (``ok``, ``merged``,
``split``, ``short``).
"""

from __future__ import annotations

import math

import pandas as pd

from ..segments import set_index


def emotion_segments(
    table: pd.DataFrame,
    max_len: float = 20.0,
    min_len: float = 1.0,
    *,
    merge_gap: float = 1.5,
) -> pd.DataFrame:
    """Emotion segments from a turn table (index ``file, start, end``; column ``speaker``)."""
    if max_len <= 0 or min_len < 0 or min_len > max_len:
        raise ValueError(f"need 0 <= min_len <= max_len (got min_len={min_len}, max_len={max_len})")
    if table.empty:
        out = table.copy()
        for c, dt in (("n_turns", int), ("unknown", bool), ("status", object)):
            out[c] = pd.Series(dtype=dt)
        return out
    flat = table.reset_index().sort_values(["file", "start"]).reset_index(drop=True)
    extra = [c for c in flat.columns if c not in ("file", "start", "end")]
    rows: list[dict] = []
    for rec in flat.to_dict("records"):
        dur = rec["end"] - rec["start"]
        k = max(1, math.ceil(dur / max_len - 1e-9))
        for j in range(k):
            r = dict(rec)
            r["start"] = rec["start"] + dur * j / k
            r["end"] = rec["start"] + dur * (j + 1) / k
            r["n_turns"] = 1
            r["status"] = "split" if k > 1 else "ok"
            rows.append(r)
    # merge short pieces with a neighbour of the same speaker (same file), nobody speaking between
    changed = True
    while changed:
        changed = False
        for i, r in enumerate(rows):
            if r["end"] - r["start"] >= min_len:
                continue
            best = None
            for j in (i - 1, i + 1):
                if not 0 <= j < len(rows):
                    continue
                o = rows[j]
                if o["file"] != r["file"] or o["speaker"] != r["speaker"]:
                    continue
                a, b = (o, r) if j < i else (r, o)
                gap = b["start"] - a["end"]
                span = max(a["end"], b["end"]) - min(a["start"], b["start"])
                if gap > merge_gap or span > max_len:
                    continue
                if best is None or span < best[1]:
                    best = (j, span)
            if best is None:
                continue
            j = best[0]
            o = rows[j]
            m = dict(o)
            m["start"] = min(o["start"], r["start"])
            m["end"] = max(o["end"], r["end"])
            m["n_turns"] = o["n_turns"] + r["n_turns"]
            m["status"] = "merged"
            if "overlap" in m:
                m["overlap"] = bool(o.get("overlap", False)) or bool(r.get("overlap", False))
            lo, hi = min(i, j), max(i, j)
            rows[lo:hi + 1] = [m]
            changed = True
            break
    for r in rows:
        r["unknown"] = bool(r["end"] - r["start"] < min_len)
        if r["unknown"]:
            r["status"] = "short"
    out = set_index(pd.DataFrame(rows, columns=["file", "start", "end", *extra, "n_turns", "unknown", "status"]))
    return out
