"""The archive page: what a whole set of analysed calls looks like, as one self-contained HTML page
(inline CSS, PNG figures as data URIs, a small inline script; nothing loaded from the network).

Built from two pandas DataFrames so that any store can feed it (``callemo report`` reads the
Parquet results dataset, ``callemo serve`` its database):

* ``calls``, one row per call: ``call_id`` (required), and as available ``name`` (the label
  shown; default the id), ``date``, ``duration``
  (s), ``needs_review``, ``review_reasons`` (a list, or one string joined with ``"; "``),
  ``client_trend``, ``client_end_valence``, ``valence_client``, ``most_negative_valence``,
  ``file``, ``report`` (the link to the call's own report, relative to the page), ``language``.
* ``segments``, one row per segment: ``call_id``, ``start``, ``end``, ``role``, ``emotion`` and,
  when the calls were transcribed, ``text``.

The page shows calls over time (and the share needing review per day), why calls need review
(reason counts: a reason's wording without its figures, :func:`reason_kind`), the distribution of
the client's trend and of the client's valence at the end of the call, emotions by role (share of
speech time), the worst calls with links to their reports, and a transcript search (when there is
text) over at most ``max_search_segments`` segments embedded in the page.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from typing import Any

import numpy as np
import pandas as pd

from ..utils import format_clock

TRENDS = ("improving", "stable", "worsening", "unknown")
TREND_COLORS = {"improving": "#2a9d8f", "stable": "#8d99ae", "worsening": "#d62828", "unknown": "#dddddd"}
#: segments embedded for the transcript search (beyond that: ``callemo query``)
MAX_SEARCH_SEGMENTS = 50_000


def reason_kind(reason: str) -> str:
    """A review reason without its figures: ``"client ends negative (valence -0.52 in the last
    third)"`` -> ``"client ends negative"``."""
    return re.sub(r"\s*\(.*\)\s*$", "", str(reason)).strip() or str(reason)


def _reasons(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [r.strip() for r in v.split(";") if r.strip()]
    if isinstance(v, float) and np.isnan(v):
        return []
    return [str(r) for r in list(v)]


def _col(df: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([default] * len(df), index=df.index)


def prepare_calls(calls: pd.DataFrame) -> pd.DataFrame:
    """The calls with the page's columns normalised (missing ones added, types fixed)."""
    if "call_id" not in calls.columns:
        raise ValueError(f"the calls table needs a call_id column (columns: {', '.join(map(str, calls.columns))})")
    c = pd.DataFrame({"call_id": calls["call_id"].astype(str)}, index=calls.index)
    c["name"] = _col(calls, "name", None).fillna(c["call_id"]).astype(str)
    c["date"] = pd.to_datetime(_col(calls, "date", None), errors="coerce").dt.normalize()
    for k in ("duration", "client_end_valence", "valence_client", "most_negative_valence"):
        c[k] = pd.to_numeric(_col(calls, k), errors="coerce")
    c["needs_review"] = _col(calls, "needs_review", False).fillna(False).astype(bool)
    c["review_reasons"] = [_reasons(v) for v in _col(calls, "review_reasons", None)]
    c["client_trend"] = _col(calls, "client_trend", "unknown").fillna("unknown").astype(str)
    for k in ("file", "report", "language"):
        c[k] = _col(calls, k, None)
    return c.reset_index(drop=True)


# -- figures ---------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(w: float = 6.0, h: float = 3.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(w, h))
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def fig_over_time(c: pd.DataFrame) -> str | None:
    """Calls per day (per week beyond 3 months, per month beyond 2 years; needing review in red)
    and the share needing review."""
    d = c.dropna(subset=["date"])
    if d.empty:
        return None
    days = (d["date"].max() - d["date"].min()).days
    freq, unit, width = ("D", "day", 0.8) if days <= 92 else ("W-MON", "week", 5.6) if days <= 730 else \
        ("MS", "month", 24.0)
    per = d.set_index("date")["needs_review"].astype(int).resample(freq, label="left", closed="left") \
        .agg(["size", "sum"])
    fig, ax = _figure(7.5, 3.0)
    x = per.index.to_pydatetime()
    ok = (per["size"] - per["sum"]).to_numpy()
    ax.bar(x, ok, width=width, align="edge" if unit != "day" else "center", color="#8d99ae", label="no review needed")
    ax.bar(x, per["sum"].to_numpy(), width=width, align="edge" if unit != "day" else "center", bottom=ok,
           color="#d62828", label="needs review")
    ax.set_ylabel(f"calls per {unit}")
    share = np.where(per["size"] > 0, per["sum"] / per["size"].where(per["size"] > 0, 1), np.nan)
    ax2 = ax.twinx()
    ax2.plot(x, 100 * share, "o-", color="#1d2430", ms=3, lw=1, label="% needing review")
    ax2.set_ylim(0, 100)
    ax2.set_ylabel("% needing review")
    ax2.spines[["top"]].set_visible(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=3, frameon=False)
    fig.autofmt_xdate()
    return _png(fig)


def fig_bars(counts: pd.Series, *, xlabel: str, colors: list[str] | str = "#1f77b4", h: float | None = None) -> str:
    fig, ax = _figure(6.0, h or max(1.6, 0.38 * len(counts) + 0.8))
    y = np.arange(len(counts))[::-1]
    ax.barh(y, counts.to_numpy(), color=colors)
    ax.set_yticks(y, [str(i) for i in counts.index])
    ax.set_xlabel(xlabel)
    for yi, v in zip(y, counts.to_numpy()):
        ax.text(v, yi, f" {v:g}", va="center", fontsize=8)
    return _png(fig)


def fig_end_valence(c: pd.DataFrame) -> str | None:
    v = c["client_end_valence"].dropna()
    if v.empty:
        return None
    fig, ax = _figure(6.0, 2.6)
    bins = np.linspace(-1, 1, 21)
    _, edges, patches = ax.hist(v.clip(-1, 1), bins=bins, color="#8d99ae", edgecolor="white")
    for p, left in zip(patches, edges[:-1]):
        if left < -0.2:
            p.set_facecolor("#d62828")
        elif left >= 0.2:
            p.set_facecolor("#2a9d8f")
    ax.set_xlabel("client valence in the last third of the call")
    ax.set_ylabel("calls")
    return _png(fig)


def emotions_by_role(segments: pd.DataFrame | None) -> pd.DataFrame:
    """Share of each role's judged speech time per emotion (rows: roles; columns: emotions)."""
    if segments is None or segments.empty or "emotion" not in segments.columns:
        return pd.DataFrame()
    s = segments[segments["emotion"].notna() & (segments["emotion"].astype(str) != "unknown")].copy()
    if s.empty:
        return pd.DataFrame()
    s["dur"] = (pd.to_numeric(s["end"], errors="coerce") - pd.to_numeric(s["start"], errors="coerce")).clip(lower=0)
    t = s.pivot_table(index="role", columns="emotion", values="dur", aggfunc="sum", fill_value=0.0)
    t = t.div(t.sum(axis=1).where(lambda x: x > 0, 1), axis=0)
    return t[t.sum().sort_values(ascending=False).index]


def fig_emotions(shares: pd.DataFrame) -> str | None:
    if shares.empty:
        return None
    from .plot import emotion_color

    fig, ax = _figure(7.5, 0.55 * len(shares) + 1.2)
    left = np.zeros(len(shares))
    y = np.arange(len(shares))[::-1]
    for emo in shares.columns:
        w = shares[emo].to_numpy()
        ax.barh(y, 100 * w, left=100 * left, color=emotion_color(str(emo)), edgecolor="white", label=str(emo))
        left += w
    ax.set_yticks(y, [str(r) for r in shares.index])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the role's judged speech time")
    ax.legend(fontsize=8, ncols=min(6, len(shares.columns)), loc="upper center", bbox_to_anchor=(0.5, -0.35),
              frameon=False)
    return _png(fig)


# -- the page --------------------------------------------------------------------------------
def worst_calls(c: pd.DataFrame, n: int = 25) -> pd.DataFrame:
    """The calls to look at first: needing review, then lowest client end valence, then the most
    negative moment (calls without a figure last)."""
    order = c.assign(_r=~c["needs_review"], _v=c["client_end_valence"].fillna(np.inf),
                     _m=c["most_negative_valence"].fillna(np.inf))
    return order.sort_values(["_r", "_v", "_m", "call_id"], kind="stable").head(n).drop(columns=["_r", "_v", "_m"])


def _search_data(c: pd.DataFrame, segments: pd.DataFrame | None, limit: int) -> dict[str, Any] | None:
    if segments is None or segments.empty or "text" not in segments.columns:
        return None
    s = segments[segments["text"].notna() & (segments["text"].astype(str).str.strip() != "")]
    if s.empty:
        return None
    total = len(s)
    s = s.head(limit)
    ids = {cid: i for i, cid in enumerate(c["call_id"])}
    calls = [{"id": str(r.name), "report": r.report if isinstance(r.report, str) else None}
             for r in c.itertuples()]
    rows = []
    for r in s.itertuples():
        k = ids.get(str(r.call_id))
        if k is None:
            continue
        rows.append([k, round(float(r.start), 2), str(getattr(r, "role", "") or ""),
                     "" if pd.isna(getattr(r, "emotion", None)) else str(r.emotion), str(r.text)])
    return {"calls": calls, "segments": rows, "total": total, "shown": len(rows)}


def _json_script(obj: Any) -> str:
    """JSON safe inside ``<script>`` (no ``</script>`` or ``<!--`` can close or open anything)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c").replace(
        ">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def archive_context(calls: pd.DataFrame, segments: pd.DataFrame | None = None, *, worst: int = 25,
                    max_search_segments: int = MAX_SEARCH_SEGMENTS) -> dict[str, Any]:
    """Everything the page shows, as plain data and PNG figures (base64)."""
    c = prepare_calls(calls)
    n = len(c)
    kinds = pd.Series([reason_kind(r) for rs in c["review_reasons"] for r in rs], dtype=object)
    reason_counts = kinds.value_counts() if len(kinds) else pd.Series(dtype=int)
    trends = c["client_trend"].value_counts().reindex(
        list(TRENDS) + sorted(set(c["client_trend"]) - set(TRENDS)), fill_value=0)
    trends = trends[(trends > 0) | trends.index.isin(TRENDS[:3])]
    shares = emotions_by_role(segments)
    dates = c["date"].dropna()
    w = worst_calls(c, worst)
    figures = {
        "over_time": fig_over_time(c),
        "reasons": fig_bars(reason_counts, xlabel="calls", colors="#d62828") if len(reason_counts) else None,
        "trends": fig_bars(trends, xlabel="calls", colors=[TREND_COLORS.get(str(t), "#1f77b4") for t in trends.index],
                           h=2.2) if n else None,
        "end_valence": fig_end_valence(c),
        "emotions": fig_emotions(shares),
    }
    return {
        "n_calls": n,
        "hours": float(c["duration"].sum(skipna=True)) / 3600,
        "review_share": float(c["needs_review"].mean()) if n else None,
        "n_review": int(c["needs_review"].sum()),
        "first_date": dates.min().date().isoformat() if len(dates) else None,
        "last_date": dates.max().date().isoformat() if len(dates) else None,
        "mean_end_valence": float(c["client_end_valence"].mean()) if c["client_end_valence"].notna().any() else None,
        "reasons": [{"reason": str(k), "calls": int(v), "share": v / n} for k, v in reason_counts.items()],
        "trends": [{"trend": str(k), "calls": int(v)} for k, v in trends.items()],
        "emotions": {str(r): {str(e): float(v) for e, v in row.items()} for r, row in shares.iterrows()},
        "emotion_names": sorted({str(e) for e in shares.columns}),
        "worst": [{
            "call_id": r.call_id, "name": r.name, "report": r.report if isinstance(r.report, str) else None,
            "date": r.date.date().isoformat() if not pd.isna(r.date) else "",
            "duration": format_clock(r.duration) if not pd.isna(r.duration) else "–",
            "trend": r.client_trend,
            "end_valence": None if pd.isna(r.client_end_valence) else float(r.client_end_valence),
            "needs_review": bool(r.needs_review), "reasons": list(r.review_reasons),
        } for r in w.itertuples()],
        "figures": figures,
        "search": _search_data(c, segments, max_search_segments),
    }


def render_archive(calls: pd.DataFrame, segments: pd.DataFrame | None = None, *, title: str = "Call archive",
                   worst: int = 25, max_search_segments: int = MAX_SEARCH_SEGMENTS, fragment: bool = False,
                   source: str | None = None) -> str:
    """The archive page (``fragment=True``: only its body, for embedding in another page; no script).
    ``source``: where the data came from, shown under the title."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("callemo.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["num"] = lambda x, d=2: "–" if x is None else f"{x:+.{d}f}"
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
    ctx = archive_context(calls, segments, worst=worst, max_search_segments=max_search_segments)
    search = ctx.pop("search")
    return env.get_template("archive.html.j2").render(
        a=ctx, title=title, source=source, fragment=fragment,
        search_json=_json_script(search) if search and not fragment else None, search=search,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


__all__ = ["MAX_SEARCH_SEGMENTS", "archive_context", "emotions_by_role", "prepare_calls", "reason_kind",
           "render_archive", "worst_calls"]
