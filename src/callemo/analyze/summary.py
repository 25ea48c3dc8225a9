"""The call summary: talk time, silence and overlap, emotion distribution, the client's trend,
the moments of strongest negative emotion, and whether a person should review the call.

Every figure is computed from the segment table in the original recording's time; see
``docs/analysis.md`` for the definitions.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ..segments import intersect_intervals, merge_intervals
from ..utils import format_clock
from .options import ReviewRules
from .schema import SummaryJSON

MAIN_ROLES = ("agent", "client")
#: what the summary says when a role's emotions were not inferred (docs/analysis.md)
NOT_INFERRED_NOTE = ("emotions were not inferred for the {roles} (emotions='client'): inferring employees' emotions "
                     "at work is prohibited in the EU (AI Act, Art. 5(1)(f)); use emotions='all' only where lawful")


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
    out: dict[str, Any] = {"start_valence": None, "end_valence": None, "change": None, "direction": "unknown",
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
        out["direction"] = ("improving" if d >= rules.trend_delta
                            else "worsening" if d <= -rules.trend_delta else "stable")
    return out


def negative_moments(segments: pd.DataFrame, rules: ReviewRules = ReviewRules()) -> list[dict[str, Any]]:
    """The judged segments of lowest valence (at most ``rules.n_moments``, valence <= threshold)."""
    if segments is None or len(segments) == 0:
        return []
    flat = segments.reset_index()
    v = flat["valence"].astype(float)
    sub = flat[np.isfinite(v) & (v <= rules.negative_valence) & flat["emotion"].notna()
               & (flat["emotion"].astype(str) != "unknown")]
    if len(sub) == 0:
        return []
    # strongest = most negative valence, then higher arousal, then higher confidence
    sub = sub.assign(_a=sub["arousal"].astype(float).fillna(0.0)).sort_values(
        ["valence", "_a", "confidence"], ascending=[True, False, False]
    )
    return [
        {
            "start": _f(r.start), "end": _f(r.end), "role": str(r.role), "speaker": str(r.speaker),
            "emotion": str(r.emotion), "confidence": _f(r.confidence),
            "valence": _f(r.valence), "arousal": _f(r.arousal),
        }
        for r in sub.head(rules.n_moments).itertuples(index=False)
    ]


def summarize(
    segments: pd.DataFrame,
    duration: float,
    *,
    speech: pd.DataFrame | None = None,
    overlaps: list[tuple[float, float]] | None = None,
    labels: list[str] | None = None,
    rules: ReviewRules = ReviewRules(),
    emotions: Literal["client", "all"] = "all",
    diarization: Literal["channels", "embeddings", "none"] = "none",
    diarization_confidence: float | None = None,
) -> SummaryJSON:
    """The summary of one analysed call.

    ``segments`` is the prediction table (role, speaker, emotion, confidence, valence, arousal,
    optionally overlap). ``speech`` is the preparation's segment table when it differs from the
    emotion segments (e.g. the emotion segments dropped pieces); talk, silence and overlap
    figures come from it. ``overlaps``: overlapped stretches found by the preparation (used
    instead of the whole-segment ``overlap`` flags). ``emotions``: whose emotions were inferred
    (``"client"``: segments of other roles carry no emotion, ``emotion`` NaN, and are left out of
    every emotion figure). ``diarization``: how speakers were found; ``diarization_confidence``: the
preparation's confidence in the speaker attribution of a mono call (below
``rules.diarization_confidence`` the call needs review). Keys are documented in docs/analysis.md.
    """
    duration = float(duration) if duration and np.isfinite(duration) else 0.0
    speech = segments if speech is None else speech
    flat = segments.reset_index() if segments is not None and len(segments) else pd.DataFrame(
        columns=["start", "end", "role", "speaker", "emotion", "confidence", "valence", "arousal"])
    sflat = speech.reset_index() if speech is not None and len(speech) else \
        pd.DataFrame(columns=["start", "end", "role", "speaker"])

    roles_present = list(pd.unique(sflat["role"].astype(str))) if len(sflat) else []
    roles = list(MAIN_ROLES) + sorted(r for r in roles_present if r not in MAIN_ROLES)

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
    inferred = flat["emotion"].notna() if len(flat) else pd.Series(dtype=bool)
    for r in roles:
        sub = flat[(flat["role"].astype(str) == r) & inferred] if len(flat) else flat
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

    # confidence (of the segments whose emotions were inferred) -------------------------------
    n_all = len(flat)
    flat = flat[inferred] if len(flat) else flat
    n = len(flat)
    judged_mask = (flat["emotion"].astype(str) != "unknown").to_numpy() if n else np.zeros(0, bool)
    dur_all = (flat["end"].astype(float) - flat["start"].astype(float)).to_numpy() if n else np.zeros(0)
    mean_conf = float(np.mean(flat["confidence"].astype(float).to_numpy()[judged_mask])) \
        if judged_mask.any() else float("nan")
    unknown_share = float(dur_all[~judged_mask].sum() / dur_all.sum()) if n and dur_all.sum() > 0 else 0.0

    trend = client_trend(segments, rules)
    moments = negative_moments(segments, rules)

    # review rules ----------------------------------------------------------------------------
    diar_conf = None if diarization_confidence is None or not np.isfinite(diarization_confidence) \
        else float(diarization_confidence)
    reasons: list[str] = []
    if n_all == 0 or speech_time <= 0:
        reasons.append("no speech")
    else:
        if trend["end_valence"] is not None and trend["end_valence"] <= rules.end_valence:
            reasons.append(f"client ends negative (valence {trend['end_valence']:+.2f} in the last third)")
        if trend["change"] is not None and trend["change"] <= -rules.worsening:
            reasons.append(f"client's mood worsened ({trend['change']:+.2f})")
        cl = flat[(flat["role"].astype(str) == "client") & flat["emotion"].astype(str).str.lower().isin(rules.emotions)]
        cl = cl[cl["confidence"].astype(float) >= rules.emotion_confidence]
        if len(cl):
            t0 = float(cl.sort_values("confidence", ascending=False)["start"].iloc[0])
            reasons.append(f"strong anger from the client ({len(cl)} segment(s), e.g. at {format_clock(t0)})")
        if judged_mask.any() and mean_conf < rules.low_confidence:
            reasons.append(f"low confidence (mean {mean_conf:.2f})")
        if unknown_share > rules.unknown_share:
            reasons.append(f"mostly unjudged speech ({unknown_share:.0%} too short for the model)")
        if talk.get("client", 0.0) <= 0 and talk.get("agent", 0.0) > 0:
            reasons.append("no client speech found")
        if diar_conf is not None and diar_conf < rules.diarization_confidence:
            reasons.append(f"speaker attribution uncertain (diarization confidence {diar_conf:.2f})")

    inferred_roles = list(roles) if emotions == "all" else ["client"]
    skipped = [] if emotions == "all" else [r for r in roles if r != "client"]
    return SummaryJSON.model_validate({
        "duration": round(duration, 3),
        "n_segments": int(n_all),
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
        "emotions": {"inferred_roles": inferred_roles, "not_inferred_roles": skipped,
                     "note": NOT_INFERRED_NOTE.format(roles=" and ".join(skipped)) if skipped else None},
        "diarization": {"method": diarization, "confidence": None if diar_conf is None else round(diar_conf, 4)},
        "rules": rules.model_dump(mode="json"),
    })


