"""The call plot: one lane per speaker role coloured by emotion, and the per-role valence/arousal
curves below (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..utils import format_clock

#: fixed colours so every report reads the same (unknown = light grey)
EMOTION_COLORS = {
    "neutral": "#b8c4cc",
    "calm": "#7fc8a9",
    "happy": "#f2c14e",
    "positive": "#f2c14e",
    "surprised": "#f28f3b",
    "sad": "#5b8def",
    "fearful": "#9b5de5",
    "disgust": "#6a994e",
    "angry": "#d62828",
    "negative": "#d62828",
    "emotional": "#e76f51",
    "unknown": "#eeeeee",
    "not inferred": "#ffffff",  # a role whose emotions were not inferred (--emotions client)
}
_EXTRA = ["#2a9d8f", "#e9c46a", "#264653", "#f4a261", "#8d99ae", "#ef476f", "#06d6a0", "#118ab2"]
ROLE_COLORS = {"agent": "#1f77b4", "client": "#d95f02", "unknown": "#7f7f7f"}


def emotion_color(label: str, labels: list[str] | None = None) -> str:
    lab = str(label).lower()
    if lab in EMOTION_COLORS:
        return EMOTION_COLORS[lab]
    pos = (labels or []).index(label) if labels and label in labels else abs(hash(lab))
    return _EXTRA[pos % len(_EXTRA)]


_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def _tick_step(duration: float, max_ticks: int = 12) -> float:
    """A round tick interval (seconds) giving at most ``max_ticks`` ticks."""
    for step in _STEPS:
        if duration / step <= max_ticks:
            return float(step)
    return float(np.ceil(duration / max_ticks / 3600) * 3600)


def plot_call(result: Any, path: str | os.PathLike | None = None, *, dpi: int = 100,
              width: float | None = None) -> bytes:
    """Draw the call; write PNG to ``path`` when given; return the PNG bytes.

    ``width`` (inches) defaults to 12 for calls up to 10 minutes, growing to 20 for an hour.

    ``result`` is a :class:`callemo.analyze.pipeline.CallResult` (or anything with ``segments``,
    ``curves``, ``duration``, ``labels``, ``file``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    seg = result.segments
    flat = seg.reset_index() if seg is not None and len(seg) else None
    roles = ["agent", "client"]
    if flat is not None:
        roles += sorted(r for r in flat["role"].astype(str).unique() if r not in roles)
    duration = max(float(result.duration), 1e-3)
    if width is None:
        width = float(np.clip(12 + 8 * (duration - 600) / 3000, 12, 20))

    fig = Figure(figsize=(width, 5.2), dpi=dpi)
    gs = fig.add_gridspec(2, 1, height_ratios=[1.2, 2.0], hspace=0.12)
    ax1 = fig.add_subplot(gs[0])
    ax2 = fig.add_subplot(gs[1], sharex=ax1)

    # lanes ------------------------------------------------------------------------------------
    used: list[str] = []
    for k, role in enumerate(roles):
        y = len(roles) - 1 - k
        if flat is None:
            continue
        sub = flat[flat["role"].astype(str) == role]
        for emo, g in sub.groupby(sub["emotion"].astype(object).fillna("not inferred").astype(str)):
            spans = list(zip(g["start"].astype(float), (g["end"] - g["start"]).astype(float)))
            col = emotion_color(emo, list(result.labels))
            ax1.broken_barh(spans, (y - 0.38, 0.76), facecolors=col, edgecolor="white", linewidth=0.3)
            if emo not in used:
                used.append(emo)
    ax1.set_yticks(range(len(roles)))
    ax1.set_yticklabels(list(reversed(roles)))
    ax1.set_ylim(-0.6, len(roles) - 0.4)
    ax1.set_xlim(0, duration)
    ax1.set_title(Path(str(result.file)).name, fontsize=10, loc="left")
    ax1.grid(axis="x", alpha=0.3)
    if flat is None:
        ax1.text(duration / 2, (len(roles) - 1) / 2, "no speech", ha="center", va="center", color="#888")
    handles = [Patch(facecolor=emotion_color(e, list(result.labels)), edgecolor="#999", label=e) for e in
               sorted(used, key=lambda e: (e == "unknown", e))]
    if handles:
        ax1.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False,
                   title="emotion", title_fontsize=8)
    ax1.tick_params(labelbottom=False)

    # curves -----------------------------------------------------------------------------------
    for role, c in result.curves.items():
        t = np.asarray(c["time"], dtype=float)
        v = np.asarray(c["valence"], dtype=float)
        a = np.asarray(c["arousal"], dtype=float)
        if not (np.isfinite(v).any() or np.isfinite(a).any()):
            continue
        col = ROLE_COLORS.get(role, "#444444")
        ax2.plot(t, v, color=col, lw=1.6, label=f"{role} valence")
        ax2.plot(t, a, color=col, lw=1.0, ls="--", alpha=0.8, label=f"{role} arousal")
    ax2.axhline(0, color="#999", lw=0.6)
    ax2.set_ylim(-1.05, 1.05)
    ax2.set_ylabel("valence / arousal")
    ax2.set_xlabel("time in the call (original recording)")
    ax2.xaxis.set_major_locator(MultipleLocator(_tick_step(duration)))
    ax2.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_clock(x)))
    ax2.grid(alpha=0.3)
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.84 / width, right=1 - 1.7 / width, top=0.93, bottom=0.1)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
