"""The self-contained HTML report of one call: summary, the plot (PNG as base64), the segment
table and an audio player.

Audio: calls up to ``embed_max_seconds`` (default 30 min) are embedded as a base64 data URI,
re-encoded to mono 8 kHz Ogg Vorbis (about 15-20 kbit/s, ~1 MB per 7 minutes: a telephone call
loses nothing audible at 8 kHz); longer calls are *linked* (a relative path from the report to the
original file) so the report stays small. ``audio="none"`` leaves the player out. Clicking a
segment row plays from its start. When the result has muted spans (``--redact-audio``: the redacted
words of the transcript) they are silenced in the embedded copy, and such a call is always embedded,
never linked to the original.

A transcribed call (``--transcribe``) shows each segment's text beside it, with a search box that
keeps the segments containing the words typed and highlights them (inline script, no network).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..utils import format_clock, format_number

EMBED_MAX_SECONDS = 1800.0
EMBED_SR = 8000
_BLOCK = 32768


def encode_audio(path: str | os.PathLike, *, sr: int = EMBED_SR,
                 mute: Sequence[tuple[float, float]] = ()) -> tuple[bytes, str]:
    """The call as mono Ogg Vorbis bytes at ``sr`` (fallback: 8-bit mu-law WAV) and its MIME type;
    the time spans ``mute`` (s) silenced."""
    import soundfile as sf

    from ..io import load_audio

    x, _ = load_audio(path, sr, mono=True)
    for s, e in mute:  # with a little margin: word times are approximate
        x[max(0, int((float(s) - 0.05) * sr)):max(0, int(np.ceil((float(e) + 0.05) * sr)))] = 0.0
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:
        x = x / peak
    buf = io.BytesIO()
    try:
        # written in blocks: libvorbis allocates one write's worth on the stack and crashes on
        # long single writes (python-soundfile #233/#396, libsndfile #1095)
        with sf.SoundFile(buf, "w", sr, 1, format="OGG", subtype="VORBIS", compression_level=1.0) as f:
            for i in range(0, len(x), _BLOCK):
                f.write(x[i:i + _BLOCK])
        return buf.getvalue(), "audio/ogg"
    except Exception:
        buf = io.BytesIO()
        sf.write(buf, x, sr, format="WAV", subtype="ULAW")
        return buf.getvalue(), "audio/wav"


def audio_source(
    audio_path: str | os.PathLike | None,
    report_path: str | os.PathLike,
    duration: float,
    *,
    audio: str = "auto",
    embed_max_seconds: float = EMBED_MAX_SECONDS,
    mute: Sequence[tuple[float, float]] = (),
) -> dict[str, Any] | None:
    """``{"src", "mode", "mime"}`` for the player, or None (``audio``: auto | embed | link | none).
    ``mute``: time spans silenced in the embedded copy; with any, the audio is never linked (the
    original holds what was muted): embedded, or left out if it cannot be encoded."""
    if audio == "none" or audio_path is None or not Path(audio_path).exists():
        return None
    mode = audio
    if mode == "auto":
        mode = "embed" if duration <= embed_max_seconds else "link"
    if mute:
        mode = "embed"
    if mode == "embed":
        try:
            data, mime = encode_audio(audio_path, mute=mute)
            src = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
            return {"src": src, "mode": "embed", "mime": mime, "muted": len(mute)}
        except Exception:
            if mute:
                return None
            mode = "link"
    rel = os.path.relpath(Path(audio_path).resolve(), Path(report_path).resolve().parent)
    src = Path(rel).as_posix()
    return {"src": src, "mode": "link", "mime": None}


def _fmt_num(x: Any, digits: int = 2) -> str:
    return format_number(x, digits, "–")


def _fmt_pct(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.1f}%"


def render_html(
    result: Any,
    *,
    png: bytes | None,
    report_path: str | os.PathLike,
    audio: str = "auto",
    embed_max_seconds: float = EMBED_MAX_SECONDS,
    doc: dict[str, Any] | None = None,
    audio_path: str | os.PathLike | None = None,
) -> str:
    """The report as one HTML string (no external resources, except a linked long audio file).
    ``audio_path``: the recording for the player (default ``result.file``)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("callemo.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clock"] = lambda x: format_clock(x, decimals=1)
    env.filters["num"] = _fmt_num
    env.filters["pct"] = _fmt_pct
    from .plot import emotion_color

    env.globals["emotion_color"] = lambda e: emotion_color(e, list(result.labels))
    doc = doc if doc is not None else result.to_dict()
    player = audio_source(result.file if audio_path is None else audio_path, report_path,
                          float(result.duration), audio=audio,
                          embed_max_seconds=embed_max_seconds, mute=list(result.muted))
    tpl = env.get_template("call.html.j2")
    return tpl.render(
        doc=doc,
        summary=doc["summary"],
        segments=doc["segments"],
        labels=list(result.labels),
        name=Path(str(result.file)).name,
        png_b64=base64.b64encode(png).decode("ascii") if png else None,
        player=player,
        transcribed=any("text" in s for s in doc["segments"]),
        transcript=doc["summary"].get("transcript"),
    )
