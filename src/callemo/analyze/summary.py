"""The call summary: talk time, silence and overlap, emotion distribution, the client's trend,
the moments of strongest negative emotion, and whether a person should review the call.

Every figure is computed from the segment table in the original recording's time; see
``docs/analysis.md`` for the definitions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..segments import intersect_intervals, merge_intervals

#: emotion labels treated as anger (for the "strong anger" review rule)
ANGER_LABELS = ("angry", "anger", "annoyed", "frustrated")
MAIN_ROLES = ("agent", "client")


@dataclass(frozen=True)
class ReviewRules:
    """Thresholds of the ``needs_review`` rules (all documented in docs/analysis.md)."""

    #: the client's mean valence over the last third of their speech below this -> "client ends negative"
    end_valence: float = -0.25
    #: the client's trend (end - start) below minus this -> "client's mood worsened"
    worsening: float = 0.3
    #: a client segment predicted angry with at least this confidence -> "strong anger"
    anger_confidence: float = 0.6
    #: a segment valence at or below this counts as strongly negative (moments)
    negative_valence: float = -0.3
    #: mean confidence of judged segments below this -> "low confidence"
    low_confidence: float = 0.4
    #: share of speech time the model could not judge above this -> "mostly unjudged speech"
    unknown_share: float = 0.5
    #: a change of client valence of at least this is a direction ("improving"/"worsening")
    trend_delta: float = 0.1
    #: how many strongest negative moments to list
    n_moments: int = 5


# -- interval arithmetic -------------------------------------------------------------------
def total_length(iv: list[tuple[float, float]]) -> float:
    return float(sum(e - s for s, e in merge_intervals(iv)))


def intersect(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Intersection of two unions of intervals."""
    return intersect_intervals(merge_intervals(a), merge_intervals(b))


def _clip_weighted_mean(starts, ends, values, lo: float, hi: float) -> float:
    """Mean of ``values`` weighted by each segment's overlap with ``[lo, hi]`` (NaN if none)."""
    w = np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0, None)
    ok = np.isfinite(values) & (w > 0)
    if not ok.any():
        return float("nan")
    return float(np.sum(values[ok] * w[ok]) / np.sum(w[ok]))


def _f(x: Any) -> float | None:
    """Plain float, NaN -> None (JSON null)."""
    if x is None:
        return None
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


# -- the summary ---------------------------------------------------------------------------
def client_trend(segments: pd.DataFrame, rules: ReviewRules = ReviewRules()) -> dict[str, Any]:
    """Mean valence of the client in the first vs the last third of the client's speaking span.

    The span runs from the client's first judged segment start to the last judged segment end;
    each third's mean is weighted by how much of each segment falls in it. ``direction`` is
    ``improving`` / ``worsening`` / ``stable`` (change smaller than ``rules.trend_delta``), or
    ``unknown`` when the client has no judged speech.
    """
    out = {"start_valence": None, "end_valence": None, "change": None, "direction": "unknown",
           "start_arousal": None, "end_arousal": None}
    if segments is None or len(segments) == 0:
        return out
    flat = segments.reset_index()
    sub = flat[(flat["role"].astype(str) == "client") & np.isfinite(flat["valence"].astype(float))]
    if len(sub) == 0:
        return out
    s = sub["start"].to_numpy(float)
    e = sub["end"].to_numpy(float)
    lo, hi = float(s.min()), float(e.max())
    third = (hi - lo) / 3
    v = sub["valence"].to_numpy(float)
    a = sub["arousal"].to_numpy(float)
    sv = _clip_weighted_mean(s, e, v, lo, lo + third)
    ev = _clip_weighted_mean(s, e, v, hi - third, hi)
    out.update(start_valence=_f(sv), end_valence=_f(ev),
               start_arousal=_f(_clip_weighted_mean(s, e, a, lo, lo + third)),
               end_arousal=_f(_clip_weighted_mean(s, e, a, hi - third, hi)))
    if np.isfinite(sv) and np.isfinite(ev):
        d = ev - sv
        out["change"] = _f(d)
        out["direction"] = "improving" if d >= rules.trend_delta else "worsening" if d <= -rules.trend_delta else "stable"
    return out


def negative_moments(segments: pd.DataFrame, rules: ReviewRules = ReviewRules()) -> list[dict[str, Any]]:
    """The judged segments of lowest valence (at most ``rules.n_moments``, valence <= threshold)."""
    if segments is None or len(segments) == 0:
        return []
    flat = segments.reset_index()
    v = flat["valence"].astype(float)
    sub = flat[np.isfinite(v) & (v <= rules.negative_valence) & (flat["emotion"].astype(str) != "unknown")]
    if len(sub) == 0:
        return []
    # strongest = most negative valence, then higher arousal, then higher confidence
    sub = sub.assign(_a=sub["arousal"].astype(float).fillna(0.0)).sort_values(
        ["valence", "_a", "confidence"], ascending=[True, False, False]
    )
    out = []
    for r in sub.head(rules.n_moments).itertuples(index=False):
        out.append({
            "start": _f(r.start), "end": _f(r.end), "role": str(r.role), "speaker": str(r.speaker),
            "emotion": str(r.emotion), "confidence": _f(r.confidence),
            "valence": _f(r.valence), "arousal": _f(r.arousal),
        })
    return out


def summarize(
    segments: pd.DataFrame,
    duration: float,
    *,
    speech: pd.DataFrame | None = None,
    overlaps: list[tuple[float, float]] | None = None,
    labels: list[str] | None = None,
    rules: ReviewRules = ReviewRules(),
) -> dict[str, Any]:
    """The summary of one analysed call (a plain, JSON-ready dict).

    ``segments`` is the prediction table (role, speaker, emotion, confidence, valence, arousal,
    optionally overlap). ``speech`` is the preparation's segment table when it differs from the
    emotion segments (e.g. the emotion segments dropped pieces); talk, silence and overlap
    figures come from it. ``overlaps``: overlapped stretches found by the preparation (used
    instead of the whole-segment ``overlap`` flags). Keys are documented in docs/analysis.md.
    """
    duration = float(duration) if duration and np.isfinite(duration) else 0.0
    speech = segments if speech is None else speech
    flat = segments.reset_index() if segments is not None and len(segments) else pd.DataFrame(
        columns=["start", "end", "role", "speaker", "emotion", "confidence", "valence", "arousal"])
    sflat = speech.reset_index() if speech is not None and len(speech) else pd.DataFrame(columns=["start", "end", "role", "speaker"])

    roles_present = list(pd.unique(sflat["role"].astype(str))) if len(sflat) else []
    roles = [r for r in MAIN_ROLES] + sorted(r for r in roles_present if r not in MAIN_ROLES)

    # talk time, silence, overlap ----------------------------------------------------------
    def iv(df):
        return list(zip(df["start"].astype(float), df["end"].astype(float)))

    talk = {r: round(total_length(iv(sflat[sflat["role"].astype(str) == r])), 3) if len(sflat) else 0.0 for r in roles}
    speech_time = total_length(iv(sflat)) if len(sflat) else 0.0
    overlap_iv: list[tuple[float, float]] = []
    if len(sflat):
        spk = sflat["speaker"].astype(str)
        groups = {k: iv(sflat[spk == k]) for k in pd.unique(spk)}
        keys = list(groups)
        for i in range(len(keys)):
            for j in range(i + 1, len(keys)):
                overlap_iv += intersect(groups[keys[i]], groups[keys[j]])
        if overlaps is not None:
            overlap_iv += [(float(a), float(b)) for a, b in overlaps]
        elif "overlap" in sflat.columns:
            flagged = sflat[sflat["overlap"].fillna(False).astype(bool)]
            overlap_iv += iv(flagged)
    overlap_time = total_length(overlap_iv)
    share = (lambda x: round(x / duration, 4)) if duration > 0 else (lambda x: 0.0)

    # emotion distribution per role (share of the role's emotion-segment time) -------------
    dist: dict[str, dict[str, float]] = {}
    dominant: dict[str, str | None] = {}
    mean_va: dict[str, dict[str, float | None]] = {}
    for r in roles:
        sub = flat[flat["role"].astype(str) == r] if len(flat) else flat
        d = (sub["end"].astype(float) - sub["start"].astype(float)) if len(sub) else pd.Series(dtype=float)
        if len(sub) and d.sum() > 0:
            tot = d.groupby(sub["emotion"].astype(str)).sum() / d.sum()
            dist[r] = {k: round(float(v), 4) for k, v in tot.sort_values(ascending=False).items()}
            judged = tot.drop("unknown", errors="ignore")
            dominant[r] = str(judged.idxmax()) if len(judged) else None
            vv, aa = sub["valence"].astype(float).to_numpy(), sub["arousal"].astype(float).to_numpy()
            ok = np.isfinite(vv)
            w = d.to_numpy()
            mean_va[r] = {
                "valence": _f(np.sum(vv[ok] * w[ok]) / np.sum(w[ok])) if ok.any() and w[ok].sum() > 0 else None,
                "arousal": _f(np.sum(aa[ok] * w[ok]) / np.sum(w[ok])) if ok.any() and w[ok].sum() > 0 else None,
            }
        else:
            dist[r] = {}
            dominant[r] = None
            mean_va[r] = {"valence": None, "arousal": None}

    # confidence ------------------------------------------------------------------------------
    n = len(flat)
    judged_mask = (flat["emotion"].astype(str) != "unknown").to_numpy() if n else np.zeros(0, bool)
    dur_all = (flat["end"].astype(float) - flat["start"].astype(float)).to_numpy() if n else np.zeros(0)
    mean_conf = float(np.mean(flat["confidence"].astype(float).to_numpy()[judged_mask])) if judged_mask.any() else float("nan")
    unknown_share = float(dur_all[~judged_mask].sum() / dur_all.sum()) if n and dur_all.sum() > 0 else 0.0

    trend = client_trend(segments, rules)
    moments = negative_moments(segments, rules)

    # review rules ----------------------------------------------------------------------------
    reasons: list[str] = []
    if n == 0 or speech_time <= 0:
        reasons.append("no speech")
    else:
        if trend["end_valence"] is not None and trend["end_valence"] <= rules.end_valence:
            reasons.append(f"client ends negative (valence {trend['end_valence']:+.2f} in the last third)")
        if trend["change"] is not None and trend["change"] <= -rules.worsening:
            reasons.append(f"client's mood worsened ({trend['change']:+.2f})")
        cl = flat[(flat["role"].astype(str) == "client") & flat["emotion"].astype(str).str.lower().isin(ANGER_LABELS)]
        cl = cl[cl["confidence"].astype(float) >= rules.anger_confidence]
        if len(cl):
            t0 = float(cl.sort_values("confidence", ascending=False)["start"].iloc[0])
            reasons.append(f"strong anger from the client ({len(cl)} segment(s), e.g. at {_clock(t0)})")
        if judged_mask.any() and mean_conf < rules.low_confidence:
            reasons.append(f"low confidence (mean {mean_conf:.2f})")
        if unknown_share > rules.unknown_share:
            reasons.append(f"mostly unjudged speech ({unknown_share:.0%} too short for the model)")
        if talk.get("client", 0.0) <= 0 and talk.get("agent", 0.0) > 0:
            reasons.append("no client speech found")

    return {
        "duration": round(duration, 3),
        "n_segments": int(n),
        "n_unknown": int((~judged_mask).sum()) if n else 0,
        "speech_time": round(speech_time, 3),
        "talk_time": talk,
        "talk_share": {r: share(t) for r, t in talk.items()},
        "silence_share": share(max(0.0, duration - speech_time)) if duration > 0 else 0.0,
        "overlap_share": share(overlap_time),
        "labels": list(labels) if labels is not None else None,
        "emotion_distribution": dist,
        "dominant_emotion": dominant,
        "mean": mean_va,
        "mean_confidence": _f(mean_conf),
        "unknown_share": round(unknown_share, 4),
        "client_trend": trend,
        "negative_moments": moments,
        "needs_review": bool(reasons),
        "review_reasons": reasons,
        "rules": asdict(rules),
    }


def _clock(t: float) -> str:
    t = max(0.0, float(t))
    h, rem = divmod(int(round(t)), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
