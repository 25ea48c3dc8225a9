"""A call's transcript as stored: recognised (:mod:`callemo.text.asr`), then redacted (:mod:`callemo.text.redact`).

:func:`transcribe_table` is what the analysis pipeline calls with ``--transcribe``: the segment
table gets ``text`` and ``words`` with PII already replaced by tags (the raw text is never
returned), plus the transcript's summary and the time spans to mute for ``--redact-audio``.
:func:`mute` / :func:`mute_file` silence those spans in a signal or an audio file.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .asr import load_asr, transcribe_segments
from .redact import TAGS, pii_word_ranges, tag_words

__all__ = ["mute", "mute_file", "transcribe_table"]

def transcribe_table(table: pd.DataFrame, audio: np.ndarray, sr: int, *, language: str | None = None,
                     asr: str = "base", redact: bool = True, names: bool = False, threads: int = 0,
                     ) -> tuple[pd.DataFrame, dict[str, Any], list[tuple[float, float]]]:
    """``table`` with ``text`` and ``words`` per segment (redacted unless ``redact=False``), the
    transcript summary ``{language, language_probability, asr, redacted, redactions}`` and the
    redacted words' ``(start, end)`` spans (original time, sorted)."""
    out = transcribe_segments(load_asr(asr, threads=threads), audio, sr, table, language=language)
    info = dict(out.attrs.get("transcript") or {})
    muted: list[tuple[float, float]] = []
    counts: Counter[str] = Counter()
    if redact and len(out):
        words = out["words"].tolist()
        # each speaker's words are read as one text, in time order: a number said across two segments
        # is found whole, and "call me on" in one segment still makes the next one's digits a phone number
        starts = out.index.get_level_values("start").to_numpy(float)
        key = out["speaker"].astype(str).to_numpy() if "speaker" in out.columns else np.zeros(len(out))
        ranges: list[list[tuple[int, int, str]]] = [[] for _ in range(len(out))]
        for spk in pd.unique(key):
            flat = [(int(r), k) for r in np.flatnonzero(key == spk)[np.argsort(starts[key == spk], kind="stable")]
                    for k in range(len(words[r]))]
            for i, j, kind in pii_word_ranges([str(words[r][k]["word"]) for r, k in flat], names=names):
                by_row: dict[int, list[int]] = {}
                for r, k in flat[i:j + 1]:
                    by_row.setdefault(r, []).append(k)
                for r, ks in by_row.items():  # one tag entry per segment the finding touches
                    ranges[r].append((min(ks), max(ks), kind))
        texts = []
        for r in range(len(out)):
            words[r], spans = tag_words(words[r], ranges[r])
            counts.update(kind for _, _, kind in ranges[r])
            muted += spans
            texts.append(" ".join(str(w["word"]) for w in words[r]))
        out["text"] = pd.Series(texts, index=out.index, dtype=object)
        out["words"] = pd.Series(words, index=out.index, dtype=object)
    info.update(redacted=bool(redact), redactions={k: int(counts.get(k, 0)) for k in TAGS} if redact else None)
    out.attrs["transcript"] = info
    return out, info, sorted(muted)


def mute(x: np.ndarray, sr: int, spans: Sequence[tuple[float, float]], pad: float = 0.05) -> np.ndarray:
    """A copy of ``x`` (``(n,)`` or ``(channels, n)``) with the time spans (s) set to zero (``pad`` s each side)."""
    y = np.array(x, dtype=np.float32, copy=True)
    n = y.shape[-1]
    for s, e in spans:
        i0 = max(0, int((float(s) - pad) * sr))
        i1 = min(n, int(np.ceil((float(e) + pad) * sr)))
        if i1 > i0:
            y[..., i0:i1] = 0.0
    return y


def mute_file(path: str | os.PathLike[str], spans: Sequence[tuple[float, float]]) -> None:
    """Silence ``spans`` in the audio file ``path`` in place (same format, same channels, written atomically)."""
    import soundfile as sf

    from ..io.files import atomic_write_bytes

    if not spans:
        return
    p = Path(path)
    info = sf.info(str(p))
    x, sr = sf.read(str(p), dtype="float32", always_2d=True)
    y = mute(x.T, sr, spans).T
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=info.format, subtype=info.subtype)
    atomic_write_bytes(p, buf.getvalue())
