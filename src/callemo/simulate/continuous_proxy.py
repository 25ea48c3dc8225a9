"""A *proxy* continuous-emotion call corpus built from categorical acted corpora.

No public corpus of call-center recordings with time-continuous valence/arousal traces exists
(paper 000's CusEmo is private), so the continuous regressor is trained and benchmarked on this
clearly artificial stand-in. What it is:

* **client-side recordings**: one speaker's utterances (same speaker, same corpus) concatenated in
  the order of a plausible call *arc* (e.g. neutral -> irritated -> angry -> calmer -> relieved),
  each arc phase 2-5 utterances of one emotion, with short pauses (0.3-1.2 s) between utterances,
  leading/trailing silence trimmed, then passed through the telephone channel (8 kHz, 300-3400 Hz,
  noise at 20-35 dB SNR, G.711 mu-law; :func:`callemo.io.telephone`);
* **latent valence/arousal**: each utterance's category placed on the circumplex
  (:data:`callemo.labels.schemes.CIRCUMPLEX`), scaled by the portrayal's intensity (RAVDESS
  "normal" x0.65, "strong" x1.0; corpora without intensity x0.85), held through the following pause
  (annotators do not snap back to neutral in silence); the trace starts at the centre (0, 0);
* **two simulated annotators** (DARMA-like, paper 000): each with a reaction lag of 2-4 s, an
  exponential smoothing (time constant 0.8-2 s, the joystick's inertia), a gain of 0.8-1.2, a
  constant bias (valence N(0, 0.06); arousal: annotator B rates ~0.08 higher, as in paper 000's
  Fig. 3), slow AR(1) drift noise (sd 0.06, 3 s correlation) and small jitter; sampled at 2 Hz
  (every 500 ms) and written as integers in [-1000, 1000]. The gold standard is their mean
  (:func:`callemo.labels.continuous.gold_standard`, rule ``mean``);
* **context**: gender (from the corpus) and per-recording ratings on paper 000's 0-10 scale by the
  same two annotators: ``empathy`` (higher when the call ends on a positive note and holds little
  anger), ``engagement`` (higher with higher mean arousal), ``satisfaction`` (follows the final
  valence); their means are the gold values (``empathy`` etc.), the annotators' own in
  ``empathy_a``/``empathy_b``...

Files written into the output folder::

    audio/<file>.flac        8 kHz mono (when write_audio)
    annotations.csv          file,time,annotator,valence,arousal   (2 Hz, [-1000, 1000])
    recordings.csv           file,path,duration,speaker,gender,corpus,language,arc,empathy,...
    utterances.csv           file,start,end,source,emotion,intensity,valence,arousal (ground truth)
    proxy.yaml               every parameter and the seed

Everything is deterministic given ``seed`` (and the manifest). The limits of the proxy are listed in
``docs/continuous.md``: acted, not spontaneous speech; emotions change only at utterance
boundaries and in steps; the "annotations" are a function of the category, so a model learns to
recognise acted categories plus their temporal smoothing; the texts repeat (RAVDESS has two
sentences); the arcs are hand-designed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CallemoError

LABEL_RATE = 2.0          # Hz, DARMA default (paper 000)
SCALE = 1000              # paper 000's [-1000, 1000]
FINE_RATE = 20.0          # Hz, internal simulation rate of the annotators' joystick

#: call arcs: each a sequence of phases, each phase a list of candidate emotions (the first one
#: available for the speaker is taken with probability 0.6, another available one otherwise)
ARCS: dict[str, list[list[str]]] = {
    "complaint_resolved": [["neutral"], ["disgust", "angry", "sad"], ["angry"], ["neutral", "calm"], ["happy", "calm"]],
    "complaint_unresolved": [["neutral"], ["disgust", "sad"], ["angry"], ["angry", "disgust"], ["sad", "neutral"]],
    "worry_reassured": [["neutral"], ["fearful", "sad"], ["sad", "fearful"], ["neutral", "calm"], ["calm", "happy"]],
    "worry_unresolved": [["neutral"], ["fearful"], ["sad"], ["sad", "neutral"]],
    "pleasant": [["neutral", "calm"], ["happy", "surprised"], ["calm", "neutral"], ["happy"]],
    "surprise_problem": [["neutral"], ["surprised"], ["angry", "fearful"], ["neutral", "sad"]],
}

INTENSITY_FACTOR = {"normal": 0.65, "strong": 1.0, None: 0.85}


class ProxyError(CallemoError, ValueError):
    """The proxy corpus cannot be built from what was given."""


# -------------------------------------------------------------------------------------------------
# annotator model (pure functions, testable without audio)
# -------------------------------------------------------------------------------------------------

@dataclass
class Annotator:
    """One simulated continuous annotator (a DARMA joystick operator)."""

    name: str
    lag: float = 3.0              # s, reaction delay
    tau: float = 1.2              # s, exponential smoothing time constant
    gain: tuple[float, float] = (1.0, 1.0)     # valence, arousal
    bias: tuple[float, float] = (0.0, 0.0)     # valence, arousal, in [-1, 1] units
    drift_sd: float = 0.06        # sd of the slow AR(1) drift
    drift_time: float = 3.0       # s, correlation time of the drift
    jitter_sd: float = 0.015      # sd of sample-to-sample jitter

    def params(self) -> dict[str, Any]:
        return {"name": self.name, "lag": round(self.lag, 4), "tau": round(self.tau, 4),
                "gain": [round(g, 4) for g in self.gain], "bias": [round(b, 4) for b in self.bias],
                "drift_sd": self.drift_sd, "drift_time": self.drift_time, "jitter_sd": self.jitter_sd}


def draw_annotators(rng: np.random.Generator, n: int = 2) -> list[Annotator]:
    """``n`` annotators with their own lag, smoothing, gain and bias (annotator B rates arousal higher)."""
    out = []
    for i in range(n):
        name = chr(ord("A") + i)
        out.append(Annotator(
            name=name,
            lag=float(rng.uniform(2.0, 4.0)),
            tau=float(rng.uniform(0.8, 2.0)),
            gain=(float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.8, 1.2))),
            bias=(float(rng.normal(0.0, 0.06)), float(rng.normal(0.0, 0.04) + (0.08 if i % 2 else 0.0))),
        ))
    return out


def latent_trace(events: Sequence[tuple[float, float, float, float]], duration: float,
                 rate: float = FINE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """The step-wise latent (valence, arousal) of a recording sampled at ``rate``.

    ``events``: ``(start, end, valence, arousal)`` per utterance, in time order. The value of an
    utterance holds until the next one starts; before the first it is the centre (0, 0).
    Returns ``(times, values (n, 2))``.
    """
    t = np.arange(math.floor(duration * rate) + 1) / rate
    vals = np.zeros((len(t), 2))
    for start, _end, v, a in events:
        vals[t >= start] = (v, a)
    return t, vals


def annotate(times: np.ndarray, latent: np.ndarray, annotator: Annotator, rng: np.random.Generator,
             *, rate: float = LABEL_RATE, duration: float | None = None) -> pd.DataFrame:
    """One annotator's trace of a latent (valence, arousal) signal, sampled at ``rate`` Hz.

    Lag (shift by ``annotator.lag``; the joystick rests at the centre before), exponential
    smoothing, gain and bias, AR(1) drift and jitter, clipped to [-1, 1]. Returns ``time,
    valence, arousal`` in [-1, 1] (not yet scaled to [-1000, 1000]).
    """
    dt = float(times[1] - times[0]) if len(times) > 1 else 1.0 / FINE_RATE
    shift = int(round(annotator.lag / dt))
    lagged = np.zeros_like(latent)
    if shift < len(latent):
        lagged[shift:] = latent[: len(latent) - shift]
    # exponential smoothing (first-order low-pass, the joystick's inertia)
    k = 1.0 - math.exp(-dt / max(annotator.tau, 1e-6))
    sm = np.empty_like(lagged)
    acc = np.zeros(2)
    for i in range(len(lagged)):
        acc = acc + k * (lagged[i] - acc)
        sm[i] = acc
    y = sm * np.asarray(annotator.gain) + np.asarray(annotator.bias)
    # slow drift: AR(1) with stationary sd drift_sd and correlation time drift_time
    phi = math.exp(-dt / annotator.drift_time)
    e = rng.standard_normal((len(y), 2)) * annotator.drift_sd * math.sqrt(1 - phi * phi)
    d = np.empty_like(e)
    d[0] = rng.standard_normal(2) * annotator.drift_sd
    for i in range(1, len(e)):
        d[i] = phi * d[i - 1] + e[i]
    y = y + d
    duration = float(times[-1]) if duration is None else float(duration)
    grid = np.arange(math.floor(duration * rate + 1e-9) + 1) / rate
    vals = np.stack([np.interp(grid, times, y[:, j]) for j in range(2)], axis=1)
    vals = vals + rng.standard_normal(vals.shape) * annotator.jitter_sd
    vals = np.clip(vals, -1.0, 1.0)
    return pd.DataFrame({"time": grid, "valence": vals[:, 0], "arousal": vals[:, 1]})


def context_ratings(latent_t: np.ndarray, latent: np.ndarray, annotators: Sequence[Annotator],
                    rng: np.random.Generator) -> dict[str, float]:
    """Per-recording 0-10 ratings (empathy, engagement, satisfaction) by each annotator + their mean.

    Plausible, not measured, relations: empathy rises when the call ends on a positive note and
    holds little anger; engagement rises with mean arousal; satisfaction follows the final valence.
    """
    n = len(latent)
    end = latent[int(0.75 * n):]
    v_end = float(end[:, 0].mean()) if len(end) else 0.0
    anger = float(np.mean((latent[:, 0] < -0.3) & (latent[:, 1] > 0.3)))
    a_mean = float(latent[:, 1].mean())
    base = {
        "empathy": 5.0 + 2.5 * v_end - 3.0 * anger + rng.normal(0, 0.8),
        "engagement": 5.0 + 3.0 * a_mean + rng.normal(0, 1.0),
        "satisfaction": 5.0 + 4.0 * v_end + rng.normal(0, 0.8),
    }
    out: dict[str, float] = {}
    for key, value in base.items():
        vals = []
        for ann in annotators:
            r = float(np.clip(np.round(value + rng.normal(0, 0.7) + ann.bias[0] * 5), 0, 10))
            out[f"{key}_{ann.name.lower()}"] = r
            vals.append(r)
        out[key] = float(np.mean(vals))
    return out


# -------------------------------------------------------------------------------------------------
# recordings
# -------------------------------------------------------------------------------------------------

def _target(emotion: str, intensity) -> tuple[float, float]:
    from ..labels.schemes import CIRCUMPLEX

    v, a = CIRCUMPLEX[emotion]
    key = intensity if intensity in INTENSITY_FACTOR else None
    f = INTENSITY_FACTOR[key]
    return float(v * f), float(a * f)


def _plan(arc: list[list[str]], available: set[str], rng: np.random.Generator) -> list[str]:
    phases: list[str] = []
    for cands in arc:
        ok = [c for c in cands if c in available]
        if not ok:
            ok = ["neutral"] if "neutral" in available else sorted(available)[:1]
        pick = ok[0] if (len(ok) == 1 or rng.random() < 0.6) else ok[int(rng.integers(1, len(ok)))]
        if phases and phases[-1] == pick and len(ok) > 1:
            pick = next(c for c in ok if c != pick)
        phases.append(pick)
    return phases


def _load_utterance(path: str, start: float, end: float, sr: int, top_db: float) -> np.ndarray:
    import librosa

    from ..io import load_audio

    s = 0.0 if start is None or not np.isfinite(start) else float(start)
    e = None if end is None or not np.isfinite(end) else float(end)
    x, _ = load_audio(path, sr=sr, start=s, end=e)
    y, _ = librosa.effects.trim(x, top_db=top_db, frame_length=256, hop_length=64)
    return y if len(y) > sr * 0.3 else x


@dataclass
class ContinuousProxy:
    """The proxy corpus in memory (and where it was written)."""

    recordings: pd.DataFrame
    annotations: pd.DataFrame      # long format, values in [-1, 1] (the CSV holds [-1000, 1000])
    utterances: pd.DataFrame
    params: dict[str, Any]
    directory: Path | None = None
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    sample_rate: int = 8000

    def gold(self, rate_hz: float = LABEL_RATE) -> pd.DataFrame:
        """The gold standard (mean of the annotators) resampled by cubic spline to ``rate_hz``."""
        from ..labels.continuous import gold_standard

        return gold_standard(self.annotations, "mean", rate_hz=rate_hz, method="cubic")

    def signal(self, file: str) -> np.ndarray:
        if file not in self.signals:
            if self.directory is None:
                raise ProxyError(f"no audio for recording {file!r} (built without write_audio and not kept)")
            from ..io import load_audio

            row = self.recordings.set_index("file").loc[file]
            x, _ = load_audio(self.directory / row["path"], sr=self.sample_rate)
            self.signals[file] = x
        return self.signals[file]


def build_proxy(
    manifest: pd.DataFrame,
    out_dir: str | Path | None = None,
    *,
    recordings_per_speaker: int | dict[str, int] = 1,
    duration: tuple[float, float] = (30.0, 60.0),
    seed: int = 0,
    sample_rate: int = 8000,
    telephone: bool = True,
    snr_db: tuple[float, float] | None = (20.0, 35.0),
    gap: tuple[float, float] = (0.3, 1.2),
    utterances_per_phase: tuple[int, int] = (2, 5),
    n_annotators: int = 2,
    write_audio: bool = True,
    keep_signals: bool = True,
    trim_db: float = 35.0,
    speakers: Sequence[str] | None = None,
) -> ContinuousProxy:
    """Build the proxy corpus from a categorical manifest (``callemo.corpora.build_manifest``).

    ``recordings_per_speaker``: an int, or a dict corpus -> int (e.g. ``{"ravdess": 1, "nemo": 2}``).
    ``duration``: (min, max) seconds of each recording (drawn uniformly; a recording stops adding
    utterances once past its drawn length). ``out_dir=None`` keeps everything in memory.
    """
    need = {"path", "speaker", "emotion"}
    if missing := need - set(manifest.columns):
        raise ProxyError(f"manifest lacks columns {sorted(missing)}")
    from ..labels.schemes import CIRCUMPLEX

    df = manifest[manifest["emotion"].isin(list(CIRCUMPLEX))].copy()
    if speakers is not None:
        df = df[df["speaker"].isin(list(speakers))]
    if df.empty:
        raise ProxyError("no utterance of a known emotion in the manifest")
    for col in ("start", "end"):
        if col not in df.columns:
            df[col] = np.nan
    rng = np.random.default_rng(seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and write_audio:
        (out / "audio").mkdir(parents=True, exist_ok=True)

    rec_rows, ann_frames, utt_rows = [], [], []
    signals: dict[str, np.ndarray] = {}
    arc_names = sorted(ARCS)
    cache: dict[str, np.ndarray] = {}
    for spk in sorted(df["speaker"].unique()):
        sdf = df[df["speaker"] == spk].reset_index(drop=True)
        corpus = str(sdf["corpus"].iloc[0]) if "corpus" in sdf.columns else "unknown"
        if isinstance(recordings_per_speaker, dict):
            n_rec = recordings_per_speaker.get(corpus, 1)
        else:
            n_rec = int(recordings_per_speaker)
        available = set(sdf["emotion"].unique())
        used: dict[int, int] = {}
        for r in range(n_rec):
            file = f"{spk}_{r + 1:02d}"
            arc_name = arc_names[int(rng.integers(len(arc_names)))]
            phases = _plan(ARCS[arc_name], available, rng)
            target_len = float(rng.uniform(*duration))
            # utterance counts per phase, then grow the phases in turn until the length is reached
            pieces: list[np.ndarray] = []
            events = []
            t = float(rng.uniform(0.2, 0.6))
            pieces.append(np.zeros(int(t * sample_rate), np.float32))
            phase_i, k_in_phase = 0, 0
            n_phase = int(rng.integers(utterances_per_phase[0], utterances_per_phase[1] + 1))
            max_utt = 200
            while t < target_len and max_utt > 0:
                max_utt -= 1
                emo = phases[phase_i]
                pool = sdf.index[sdf["emotion"] == emo].to_numpy()
                if "intensity" in sdf.columns and emo != "neutral":
                    # the arc's middle phases lean to strong portrayals, the edges to normal ones
                    middle = 0 < phase_i < len(phases) - 1
                    want = "strong" if rng.random() < (0.65 if middle else 0.3) else "normal"
                    sub = pool[(sdf.loc[pool, "intensity"] == want).to_numpy()]
                    pool = sub if len(sub) else pool
                # least used first (avoid repeats within a speaker), random among equals
                counts = np.array([used.get(int(i), 0) for i in pool])
                cand = pool[counts == counts.min()]
                idx = int(cand[int(rng.integers(len(cand)))])
                used[idx] = used.get(idx, 0) + 1
                row = sdf.loc[idx]
                key = f"{row['path']}|{row['start']}|{row['end']}"
                if key not in cache:
                    cache[key] = _load_utterance(row["path"], row["start"], row["end"], sample_rate, trim_db)
                x = cache[key]
                inten = row["intensity"] if "intensity" in sdf.columns else None
                inten = inten if isinstance(inten, str) else None
                v, a = _target(emo, inten)
                start = t
                end = t + len(x) / sample_rate
                events.append((start, end, v, a))
                utt_rows.append({"file": file, "start": round(start, 4), "end": round(end, 4),
                                 "source": str(row["path"]), "emotion": emo, "intensity": inten or "",
                                 "valence": round(v, 4), "arousal": round(a, 4), "phase": phase_i})
                pieces.append(x.astype(np.float32))
                g = float(rng.uniform(*gap))
                pieces.append(np.zeros(int(g * sample_rate), np.float32))
                t = end + g
                k_in_phase += 1
                if k_in_phase >= n_phase and phase_i < len(phases) - 1:
                    phase_i += 1
                    k_in_phase = 0
                    n_phase = int(rng.integers(utterances_per_phase[0], utterances_per_phase[1] + 1))
            y = np.concatenate(pieces)
            if telephone:
                from ..io import telephone as tel

                snr = None if snr_db is None else float(rng.uniform(*snr_db))
                y, _ = tel(y, sample_rate, snr_db=snr, rng=np.random.default_rng(int(rng.integers(2**31))))
            peak = float(np.max(np.abs(y))) if len(y) else 0.0
            if peak > 0:
                y = (y * (0.9 / peak)).astype(np.float32)
            dur = len(y) / sample_rate
            lt, lat = latent_trace(events, dur)
            anns = draw_annotators(rng, n_annotators)
            for ann in anns:
                tr = annotate(lt, lat, ann, rng, duration=dur)
                tr.insert(0, "file", file)
                tr.insert(2, "annotator", ann.name)
                ann_frames.append(tr)
            ctx = context_ratings(lt, lat, anns, rng)
            rel = f"audio/{file}.flac"
            rec = {"file": file, "path": rel, "duration": round(dur, 3), "speaker": spk,
                   "gender": sdf["gender"].iloc[0] if "gender" in sdf.columns else "",
                   "corpus": corpus,
                   "language": sdf["language"].iloc[0] if "language" in sdf.columns else "",
                   "arc": arc_name, "phases": ">".join(phases), "n_utterances": len(events)}
            rec.update(ctx)
            rec["annotators"] = ";".join(f"{a.name}:lag={a.lag:.2f},tau={a.tau:.2f}" for a in anns)
            rec_rows.append(rec)
            if out is not None and write_audio:
                from ..io import save_audio

                save_audio(out / rel, y, sample_rate)
            if keep_signals:
                signals[file] = y
    recordings = pd.DataFrame(rec_rows)
    annotations = pd.concat(ann_frames, ignore_index=True)[["file", "time", "annotator", "valence", "arousal"]]
    utterances = pd.DataFrame(utt_rows)
    params = {
        "seed": seed, "sample_rate": sample_rate, "telephone": telephone,
        "snr_db": list(snr_db) if snr_db else None, "duration": list(duration), "gap": list(gap),
        "utterances_per_phase": list(utterances_per_phase), "n_annotators": n_annotators,
        "recordings_per_speaker": recordings_per_speaker, "label_rate_hz": LABEL_RATE, "scale": SCALE,
        "intensity_factor": {str(k): v for k, v in INTENSITY_FACTOR.items()}, "arcs": ARCS,
        "n_recordings": len(recordings), "hours": round(float(recordings["duration"].sum()) / 3600, 4),
    }
    proxy = ContinuousProxy(recordings, annotations, utterances, params, out, signals, sample_rate)
    if out is not None:
        write_proxy(proxy, out)
    return proxy


def write_proxy(proxy: ContinuousProxy, out_dir: str | Path) -> Path:
    """Write the CSVs (annotations as integers in [-1000, 1000]) and ``proxy.yaml``."""
    import yaml

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a = proxy.annotations.copy()
    for d in ("valence", "arousal"):
        a[d] = np.clip(np.round(a[d] * SCALE), -SCALE, SCALE).astype(int)
    a["time"] = a["time"].round(3)
    a.to_csv(out / "annotations.csv", index=False)
    proxy.recordings.to_csv(out / "recordings.csv", index=False)
    proxy.utterances.to_csv(out / "utterances.csv", index=False)
    (out / "proxy.yaml").write_text(yaml.safe_dump(proxy.params, sort_keys=False))
    proxy.directory = out
    return out


def load_proxy(directory: str | Path) -> ContinuousProxy:
    """Read a proxy corpus written by :func:`build_proxy` (audio is loaded lazily)."""
    import yaml

    from ..labels.continuous import read_continuous

    d = Path(directory)
    if not (d / "recordings.csv").exists():
        raise ProxyError(f"{d}: not a proxy corpus (no recordings.csv)")
    rec = pd.read_csv(d / "recordings.csv")
    ann = read_continuous(d / "annotations.csv", scale=SCALE)
    utt = pd.read_csv(d / "utterances.csv") if (d / "utterances.csv").exists() else pd.DataFrame()
    params = yaml.safe_load((d / "proxy.yaml").read_text()) if (d / "proxy.yaml").exists() else {}
    return ContinuousProxy(rec, ann, utt, params, d, {}, int(params.get("sample_rate", 8000)))


__all__ = ["ARCS", "Annotator", "ContinuousProxy", "ProxyError", "annotate", "build_proxy",
           "context_ratings", "draw_annotators", "latent_trace", "load_proxy", "write_proxy"]
