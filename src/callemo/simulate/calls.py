"""Synthetic two-speaker telephone calls with ground truth, for tests and benchmarks.

:func:`simulate_calls` takes a manifest of emotional utterances (columns ``path``, ``speaker``,
``emotion``; optional ``start``, ``end``, ``corpus``, ``gender``) and assembles calls:

* two different speakers: an *agent* (mostly neutral / calm) who talks first, and a *client*
  whose emotion follows an arc over the call (e.g. neutral -> angry -> neutral);
* alternating turns of 1-3 utterances, natural gaps between turns (0.2-1.5 s), some long holds
  (4-15 s of silence, to exercise silence compression) and a little overlap (a turn that starts
  0.2-0.6 s before the previous one ends);
* every utterance trimmed of its leading / trailing silence (silero-vad on the clean source)
  so that the truth marks speech, level-normalised;
* the telephone channel: 8 kHz, 300-3400 Hz, noise, G.711 mu-law (:func:`callemo.io.telephone`).

Per call it writes ``<call>.wav`` (mono mix), ``<call>_stereo.wav`` (agent on channel 0, client on
channel 1; each channel through its own telephone line), ``<call>.rttm`` (NIST RTTM, one line per
utterance, speaker = role) and ``<call>.csv`` (``file,start,end,speaker,role,emotion,channel,
source,source_start,source_end``), and ``calls.csv`` (one row per call) in ``out_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..io import load_segment, save_audio, telephone

WORK_SR = 16000
#: client emotional arcs (one is drawn per call); the client's turns walk through the phases
ARCS: tuple[tuple[str, ...], ...] = (
    ("neutral", "angry", "neutral"),
    ("neutral", "angry", "happy"),
    ("angry", "angry", "neutral"),
    ("neutral", "sad", "neutral"),
    ("neutral", "angry", "angry"),
    ("sad", "angry", "neutral"),
)
#: what to use when a speaker lacks an emotion of the arc
_FALLBACK = {
    "calm": ["neutral"], "neutral": ["calm"], "angry": ["disgust", "fearful", "surprised", "neutral"],
    "happy": ["surprised", "calm", "neutral"], "sad": ["fearful", "neutral"],
}


class SimulationError(CallemoError):
    """The manifest cannot give the calls asked for (the message says why)."""


# ----------------------------------------------------------------------------- manifests

def _fallback_manifest(name: str, directory: str | os.PathLike) -> pd.DataFrame:
    """Minimal corpus reader used only when :mod:`callemo.corpora` is not available."""
    d = Path(directory)
    rows = []
    if name == "ravdess":
        emo = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
               "07": "disgust", "08": "surprised"}
        for p in sorted(d.glob("Actor_*/*.flac")):
            f = p.stem.split("-")
            if len(f) == 7:
                rows.append({"path": str(p), "speaker": f"ravdess_{f[6]}", "emotion": emo[f[2]],
                             "gender": "male" if int(f[6]) % 2 else "female", "corpus": "ravdess"})
    elif name == "savee":
        emo = {"a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral", "sa": "sad",
               "su": "surprised"}
        for p in sorted(d.glob("*.flac")):
            spk, rest = p.stem.split("_", 1)
            code = rest.rstrip("0123456789")
            if code in emo:
                rows.append({"path": str(p), "speaker": f"savee_{spk}", "emotion": emo[code],
                             "gender": "male", "corpus": "savee"})
    elif name == "nemo":
        emo = {"anger": "angry", "fear": "fearful", "happiness": "happy", "neutral": "neutral",
               "sadness": "sad", "surprised": "surprised"}
        meta = pd.read_csv(d / "data.tsv", sep="\t")
        for r in meta.itertuples():
            p = d / "samples" / (Path(r.file_id).stem + ".flac")
            if p.exists() and r.emotion in emo:
                rows.append({"path": str(p), "speaker": f"nemo_{str(r.speaker_id).strip()}",
                             "emotion": emo[r.emotion], "gender": r.gender, "corpus": "nemo"})
    else:
        raise SimulationError(f"unknown corpus {name!r}")
    df = pd.DataFrame(rows)
    df["start"] = np.nan
    df["end"] = np.nan
    return df


def corpus_manifest(name: str, directory: str | os.PathLike) -> pd.DataFrame:
    """A corpus manifest from :func:`callemo.corpora.build_manifest` (or a minimal fallback)."""
    try:
        from ..corpora import build_manifest  # type: ignore[attr-defined]
    except ImportError:
        return _fallback_manifest(name, directory)
    return build_manifest(name, directory)


def _as_manifest(manifest: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    if isinstance(manifest, pd.DataFrame):
        df = manifest.reset_index() if set(manifest.index.names) >= {"start", "end"} else manifest.copy()
    else:
        try:
            from ..train.manifest import read_manifest  # type: ignore[attr-defined]
        except ImportError:
            p = Path(manifest)
            if not p.is_file():
                raise SimulationError(f"{p}: manifest not found") from None
            df = pd.read_csv(p)
            if "path" in df.columns:
                df["path"] = [str((p.parent / q).resolve()) if not Path(q).is_absolute() else q for q in df["path"]]
        else:
            df = read_manifest(manifest)
    missing = [c for c in ("path", "speaker", "emotion") if c not in df.columns]
    if missing:
        raise SimulationError(f"manifest needs columns path, speaker, emotion; missing {missing}")
    for c in ("start", "end"):
        if c not in df.columns:
            df[c] = np.nan
    df = df.dropna(subset=["path", "speaker", "emotion"]).copy()
    key = df["speaker"].astype(str)
    if "corpus" in df.columns:
        key = df["corpus"].astype(str) + ":" + key
    df["_spk"] = key
    df["emotion"] = df["emotion"].astype(str)
    return df.reset_index(drop=True)


# ----------------------------------------------------------------------------- audio helpers

def trim_silence(x: np.ndarray, sr: int, top_db: float = 35.0, margin: float = 0.02) -> tuple[int, int]:
    """Sample bounds of the speech in ``x``: frames within ``top_db`` of the loudest 25 ms frame."""
    hop, win = int(0.010 * sr), int(0.025 * sr)
    if len(x) < win:
        return 0, len(x)
    n = 1 + (len(x) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    rms = np.sqrt(np.mean(x[idx].astype(np.float64) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    on = np.flatnonzero(db > db.max() - top_db)
    if on.size == 0:
        return 0, len(x)
    a = max(0, on[0] * hop - int(margin * sr))
    b = min(len(x), on[-1] * hop + win + int(margin * sr))
    return a, b


def trim_speech(x: np.ndarray, sr: int, pad: float = 0.03) -> tuple[int, int]:
    """Sample bounds from the first to the last speech of ``x`` by silero-vad (energy trim as fallback)."""
    from ..prep.vad import regions_from_probs, speech_probabilities

    regs = regions_from_probs(speech_probabilities(x, sr), duration=len(x) / sr, min_speech=0.1,
                              min_silence=0.3, pad=pad)
    ea, eb = trim_silence(x, sr)
    if not regs:
        return ea, eb
    a, b = int(regs[0][0] * sr), min(len(x), int(np.ceil(regs[-1][1] * sr)))
    if b - a < 0.5 * (eb - ea):  # the VAD missed most of it (e.g. generated test voices)
        return ea, eb
    return a, b


def _active_rms(x: np.ndarray, sr: int) -> float:
    hop = int(0.02 * sr)
    n = len(x) // hop
    if n == 0:
        return float(np.sqrt(np.mean(x**2) + 1e-12))
    e = np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)
    act = e[e > e.max() * 10 ** (-30 / 10)]
    return float(np.sqrt(np.mean(act) + 1e-12))


def _pick_utterance(df: pd.DataFrame, emotion: str, rng: np.random.Generator, used: set) -> pd.Series:
    for emo in [emotion, *_FALLBACK.get(emotion, []), "neutral"]:
        cand = df[df["emotion"] == emo]
        if len(cand):
            fresh = cand[~cand.index.isin(used)]
            pool = fresh if len(fresh) else cand
            row = pool.iloc[int(rng.integers(len(pool)))]
            used.add(row.name)
            return row
    row = df.iloc[int(rng.integers(len(df)))]
    return row


# ----------------------------------------------------------------------------- one call

def simulate_call(
    agent_rows: pd.DataFrame,
    client_rows: pd.DataFrame,
    rng: np.random.Generator,
    *,
    n_turns: int = 14,
    arc: Sequence[str] | None = None,
    gap: tuple[float, float] = (0.2, 1.5),
    within_turn_gap: tuple[float, float] = (0.15, 0.6),
    hold_prob: float = 0.1,
    hold: tuple[float, float] = (4.0, 15.0),
    overlap_prob: float = 0.15,
    overlap: tuple[float, float] = (0.2, 0.6),
    utterances_per_turn: tuple[int, int] = (1, 3),
    lead_in: tuple[float, float] = (0.3, 1.5),
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Assemble one call at 16 kHz: returns ``[agent_track, client_track]`` and the truth rows."""
    arc = tuple(arc) if arc is not None else ARCS[int(rng.integers(len(ARCS)))]
    n_client_turns = n_turns // 2
    levels = {"agent": 10 ** (rng.uniform(-24, -18) / 20), "client": 10 ** (rng.uniform(-24, -18) / 20)}
    pieces: list[tuple[str, float, np.ndarray, dict]] = []
    t = float(rng.uniform(*lead_in))
    used: set = set()
    client_turn = 0
    prev_end = t
    for k in range(n_turns):
        role = "agent" if k % 2 == 0 else "client"
        if role == "client":
            phase = min(len(arc) - 1, int(client_turn * len(arc) / max(1, n_client_turns)))
            emotion = arc[phase]
            client_turn += 1
            rows = client_rows
        else:
            emotion = "neutral" if rng.random() < 0.75 else "calm"
            rows = agent_rows
        if k > 0:
            r = rng.random()
            if r < overlap_prob and pieces:
                t = prev_end - float(rng.uniform(*overlap))
                t = max(t, pieces[-1][1] + 0.5 * (prev_end - pieces[-1][1]))  # at most half of the last one
            elif r < overlap_prob + hold_prob:
                t = prev_end + float(rng.uniform(*hold))
            else:
                t = prev_end + float(rng.uniform(*gap))
        n_utt = int(rng.integers(utterances_per_turn[0], utterances_per_turn[1] + 1))
        for u in range(n_utt):
            row = _pick_utterance(rows, emotion, rng, used)
            x = load_segment(row["path"], row["start"], row["end"], WORK_SR)
            a, b = trim_speech(x, WORK_SR)
            x = x[a:b]
            if len(x) < int(0.3 * WORK_SR):
                continue
            x = x * (levels[role] / _active_rms(x, WORK_SR))
            s0 = 0.0 if pd.isna(row["start"]) else float(row["start"])
            meta = {"speaker": str(row["_spk"]), "role": role, "emotion": str(row["emotion"]),
                    "source": str(row["path"]), "source_start": s0 + a / WORK_SR, "source_end": s0 + b / WORK_SR}
            if u > 0:
                t = prev_end + float(rng.uniform(*within_turn_gap))
            pieces.append((role, t, x, meta))
            prev_end = max(prev_end, t + len(x) / WORK_SR)
    total = max(t0 + len(x) / WORK_SR for _, t0, x, _ in pieces) + float(rng.uniform(0.5, 1.5))
    n = int(np.ceil(total * WORK_SR))
    tracks = [np.zeros(n, np.float32), np.zeros(n, np.float32)]
    truth = []
    for role, t0, x, meta in pieces:
        i = int(round(t0 * WORK_SR))
        ch = 0 if role == "agent" else 1
        tracks[ch][i : i + len(x)] += x[: n - i]
        truth.append({"start": i / WORK_SR, "end": (i + len(x)) / WORK_SR, "channel": ch, **meta})
    return tracks, pd.DataFrame(truth)


def _pick_speakers(df: pd.DataFrame, rng: np.random.Generator) -> tuple[str, str]:
    spk = df.groupby("_spk")["emotion"].agg(lambda e: set(e))
    agents = [s for s, e in spk.items() if e & {"neutral", "calm"}]
    clients = [s for s, e in spk.items() if "angry" in e or len(e) > 2]
    if not agents or not clients or len(spk) < 2:
        raise SimulationError("the manifest needs at least two speakers, one with neutral and one with emotional speech")
    a = agents[int(rng.integers(len(agents)))]
    others = [c for c in clients if c != a] or [s for s in spk.index if s != a]
    if not others:
        raise SimulationError("the manifest needs at least two different speakers")
    return a, others[int(rng.integers(len(others)))]


def write_rttm(truth: pd.DataFrame, path: str | os.PathLike, file_id: str, label: str = "role") -> Path:
    """NIST RTTM, one ``SPEAKER`` line per row of ``truth`` (speaker name from column ``label``)."""
    p = Path(path)
    with open(p, "w") as f:
        for r in truth.sort_values("start").itertuples():
            f.write(f"SPEAKER {file_id} 1 {r.start:.3f} {r.end - r.start:.3f} <NA> <NA> {getattr(r, label)} <NA> <NA>\n")
    return p


def read_rttm(path: str | os.PathLike) -> pd.DataFrame:
    """Rows ``file, start, end, speaker`` of an RTTM file."""
    rows = []
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 8 and w[0] == "SPEAKER":
                s, d = float(w[3]), float(w[4])
                rows.append({"file": w[1], "start": s, "end": s + d, "speaker": w[7]})
    return pd.DataFrame(rows, columns=["file", "start", "end", "speaker"])


def simulate_calls(
    manifest: pd.DataFrame | str | os.PathLike,
    out_dir: str | os.PathLike,
    n_calls: int = 10,
    seed: int = 0,
    *,
    stereo: bool | str = "also",
    turns: tuple[int, int] = (10, 18),
    snr_db: tuple[float, float] | None = (15.0, 30.0),
    codec: bool = True,
    hold_prob: float = 0.1,
    overlap_prob: float = 0.15,
    arcs: Sequence[Sequence[str]] | None = None,
    prefix: str = "call",
    progress: bool = False,
) -> pd.DataFrame:
    """Simulate ``n_calls`` two-speaker telephone calls from ``manifest`` into ``out_dir``.

    ``manifest``: a DataFrame or a manifest CSV path (read with
    :func:`callemo.train.manifest.read_manifest`). ``stereo``: ``False`` writes mono calls only,
    ``True`` stereo only, ``"also"`` (default) both. ``turns``: range of the number of turns
    (agent first, alternating). ``snr_db``: range of the noise level drawn per call (``None`` =
    no noise). Returns the call index (also written as ``calls.csv``): ``call, mono, stereo, rttm,
    csv, duration, agent, client, arc, snr_db``.
    """
    if n_calls < 1:
        raise SimulationError(f"--calls must be at least 1 (got {n_calls})")
    if stereo not in (True, False, "also"):
        raise SimulationError(f"stereo must be True, False or 'also' (got {stereo!r})")
    df = _as_manifest(manifest)
    if df.empty:
        raise SimulationError("the manifest has no usable rows")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    it = range(n_calls)
    if progress:
        try:
            from rich.progress import track

            it = track(it, description="simulating calls")
        except ImportError:
            pass
    for i in it:
        a, c = _pick_speakers(df, rng)
        arc = None if arcs is None else tuple(arcs[int(rng.integers(len(arcs)))])
        n_turns = int(rng.integers(turns[0], turns[1] + 1))
        tracks, truth = simulate_call(df[df["_spk"] == a], df[df["_spk"] == c], rng, n_turns=n_turns, arc=arc,
                                      hold_prob=hold_prob, overlap_prob=overlap_prob)
        name = f"{prefix}{i:04d}"
        snr = None if snr_db is None else float(rng.uniform(*snr_db))
        line_seed = int(rng.integers(2**31))
        paths = {"mono": "", "stereo": ""}
        if stereo in (False, "also"):
            y, sr = telephone(tracks[0] + tracks[1], WORK_SR, snr_db=snr, codec=codec, rng=np.random.default_rng(line_seed))
            paths["mono"] = str(save_audio(out / f"{name}.wav", y, sr, subtype="PCM_16"))
        if stereo in (True, "also"):
            chans = [telephone(tr, WORK_SR, snr_db=snr, codec=codec, rng=np.random.default_rng(line_seed + 1 + j))[0]
                     for j, tr in enumerate(tracks)]
            paths["stereo"] = str(save_audio(out / f"{name}_stereo.wav", np.stack(chans), 8000, subtype="PCM_16"))
        truth.insert(0, "file", name)
        truth = truth.sort_values("start").reset_index(drop=True)
        rttm = write_rttm(truth, out / f"{name}.rttm", name)
        truth.to_csv(out / f"{name}.csv", index=False, float_format="%.3f")
        arc_used = "-".join(truth.loc[truth.role == "client", "emotion"].drop_duplicates())
        rows.append({"call": name, **paths, "rttm": str(rttm), "csv": str(out / f"{name}.csv"),
                     "duration": len(tracks[0]) / WORK_SR, "agent": a, "client": c, "arc": arc_used,
                     "snr_db": snr})
    index = pd.DataFrame(rows)
    index.to_csv(out / "calls.csv", index=False)
    return index
