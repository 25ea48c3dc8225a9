"""Realistic two-speaker telephone calls with ground truth, for tests and benchmarks.

:func:`simulate_calls` takes a manifest of emotional utterances (columns ``path``, ``speaker``,
``emotion``; optional ``start``, ``end``, ``corpus``, ``gender``) and assembles calls like those
a call centre archives (issue 9):

* two different speakers, at least ``same_gender_share`` of the calls a same-gender pair (when the
  manifest's ``gender`` column allows it): an *agent* who talks first and is neutral in at least
  80 % of the turns, and a *client* with emotional episodes (an arc such as neutral -> angry ->
  neutral over the client's turns);
* turns of 1-3 utterances of one emotion (0.15-0.6 s apart); speaker changes after 0.1-1.5 s,
  about ``overlap_prob`` of them overlapping (the next speaker starts 0.2-0.8 s early), a few long
  holds; turns do not strictly alternate (a speaker keeps the floor after a pause with probability
  ``continue_prob``); short backchannels of the listener inside long turns;
* each speaker levelled to an active speech level drawn from ``level_dbfs`` (default -26 +- 4
  dBFS, RMS re full scale of the 20 ms frames within 30 dB of the loudest);
* the telephone line: 8 kHz, 300-3400 Hz, pink noise at an SNR drawn from ``snr_db`` (relative to
  the active speech level, not to the whole track with its silences), G.711 mu-law
  (:mod:`callemo.io.telephone`); ``mp3_share`` of the calls are then archived as 16 kbps MP3.

**Reference turns** run from the first to the last speech that silero-vad finds in the clean
wideband source utterance (pauses inside count as speech), not over the clip's padding: the clip
placed in the call keeps up to 0.15 s of its own silence on each side, so speech edges sound
natural, but the truth marks only the speech.

Per call it writes ``<call>.wav`` / ``.mp3`` (mono mix), ``<call>_stereo.wav`` / ``.mp3`` (agent
on channel 0, client on channel 1; each channel through its own line), ``<call>.rttm`` (NIST RTTM,
one line per utterance, speaker = role) and ``<call>.csv`` (``file, start, end, speaker, role,
emotion, channel, turn, backchannel, gender, level_dbfs, source, source_start, source_end``), and
``calls.csv`` (one row per call) in ``out_dir``. :func:`corpus_calls` builds calls from one shared
corpus only (the held-out corpus of the leave-one-corpus-out benchmark).
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..corpora import build_manifest
from ..errors import CallemoError
from ..io import load_segment, save_audio, telephone
from ..io.telephone import add_noise, mulaw, write_mp3
from ..train.manifest import read_manifest

WORK_SR = 16000
#: bump when the simulation changes, so that cached call sets are rebuilt
SIM_VERSION = 2
#: active speech level of each speaker, dBFS (issue 9: -26 +- 4)
LEVEL_DBFS = (-30.0, -22.0)
#: silence of the source clip kept on each side of the reference speech, seconds
CLIP_MARGIN = 0.15
#: client emotional arcs (one is drawn per call); the client's turns walk through the phases
ARCS: tuple[tuple[str, ...], ...] = (
    ("neutral", "angry", "neutral"),
    ("neutral", "angry", "angry"),
    ("angry", "angry", "neutral"),
    ("neutral", "sad", "neutral"),
    ("sad", "sad", "neutral"),
    ("neutral", "happy", "neutral"),
    ("neutral", "angry", "happy"),
    ("sad", "angry", "neutral"),
)
#: what the few non-neutral agent turns are (a friendly or an empathetic agent)
AGENT_OTHER = ("happy", "sad")
#: what to use when a speaker lacks an emotion
_FALLBACK = {
    "calm": ["neutral"], "neutral": ["calm"], "angry": ["disgust", "fearful", "surprised", "neutral"],
    "happy": ["surprised", "calm", "neutral"], "sad": ["fearful", "neutral"],
}


class SimulationError(CallemoError):
    """The manifest cannot give the calls asked for (the message says why)."""


# ----------------------------------------------------------------------------- manifests

def corpus_manifest(name: str, directory: str | os.PathLike) -> pd.DataFrame:
    """The manifest of a shared corpus (:func:`callemo.corpora.build_manifest`)."""
    return build_manifest(name, directory)


def _as_manifest(manifest: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    if isinstance(manifest, pd.DataFrame):
        df = manifest.reset_index() if set(manifest.index.names) >= {"start", "end"} else manifest.copy()
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

def active_level_db(x: np.ndarray, sr: int) -> float:
    """Active speech level, dBFS: RMS (re full scale 1.0) of the 20 ms frames within 30 dB of the loudest."""
    hop = int(0.02 * sr)
    n = len(x) // hop
    if n == 0:
        return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))
    e = np.mean(np.square(x[: n * hop].reshape(n, hop), dtype=np.float64), axis=1)
    act = e[e > e.max() * 10 ** (-30 / 10)]
    return float(10 * np.log10(np.mean(act) + 1e-20))


def speech_bounds(x: np.ndarray, sr: int, *, threshold: float = 0.5) -> tuple[int, int] | None:
    """Sample bounds from the first to the last speech silero-vad finds in ``x`` (clean audio),
    pauses inside included; ``None`` when it finds none."""
    from ..prep.vad import VADSettings, regions_from_probs, speech_probabilities

    st = VADSettings(threshold=threshold, min_speech=0.1, min_silence=0.3, pad=0.0, floor_margin_db=None)
    regs = regions_from_probs(speech_probabilities(x, sr), st, duration=len(x) / sr)
    if not regs:
        return None
    a, b = round(regs[0][0] * sr), min(len(x), round(regs[-1][1] * sr))
    return (a, b) if b > a else None


_SOURCES: OrderedDict[tuple[str, float | None, float | None], tuple[np.ndarray, int, int] | None] = OrderedDict()


def _source(path: str, start: float | None, end: float | None) -> tuple[np.ndarray, int, int] | None:
    """Clean 16 kHz source and its reference speech bounds (cached: corpora reuse utterances)."""
    key = (path, start, end)
    if key in _SOURCES:
        _SOURCES.move_to_end(key)
        return _SOURCES[key]
    x = load_segment(path, start, end, WORK_SR)
    b = speech_bounds(x, WORK_SR)
    val = None if b is None else (x, b[0], b[1])
    _SOURCES[key] = val
    if len(_SOURCES) > 2000:
        _SOURCES.popitem(last=False)
    return val


def _pick_row(df: pd.DataFrame, emotion: str, rng: np.random.Generator, used: set) -> pd.Series:
    for emo in [emotion, *_FALLBACK.get(emotion, []), "neutral"]:
        cand = df[df["emotion"] == emo]
        if len(cand):
            fresh = cand[~cand.index.isin(used)]
            pool = fresh if len(fresh) else cand
            row = pool.iloc[int(rng.integers(len(pool)))]
            used.add(row.name)
            return row
    return df.iloc[int(rng.integers(len(df)))]


Utterance = tuple[pd.Series, np.ndarray, int, int]


def _utterance(df: pd.DataFrame, emotion: str, rng: np.random.Generator, used: set) -> Utterance:
    """A row of ``emotion`` whose clean source has speech: ``(row, clip, ref_start, ref_end)``
    (reference bounds in samples of the clip, which keeps ``CLIP_MARGIN`` of silence around)."""
    for _ in range(20):
        row = _pick_row(df, emotion, rng, used)
        s = _source(str(row["path"]), _nan_none(row["start"]), _nan_none(row["end"]))
        if s is None:
            continue
        x, a, b = s
        m = int(CLIP_MARGIN * WORK_SR)
        c0, c1 = max(0, a - m), min(len(x), b + m)
        return row, x[c0:c1], a - c0, b - c0
    raise SimulationError(f"no speech found by the VAD in 20 utterances of speaker {df['_spk'].iloc[0]} ({emotion})")


def _nan_none(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


# ----------------------------------------------------------------------------- one call

def _roles(n_turns: int, continue_prob: float, rng: np.random.Generator) -> list[str]:
    """Who holds each turn: the agent opens, then the floor changes except with ``continue_prob``."""
    for _ in range(100):
        roles = ["agent"]
        for _k in range(1, n_turns):
            other = "client" if roles[-1] == "agent" else "agent"
            roles.append(roles[-1] if rng.random() < continue_prob else other)
        if roles.count("client") >= 2 and roles.count("agent") >= 2:
            return roles
    return ["agent" if k % 2 == 0 else "client" for k in range(n_turns)]


def _agent_emotions(n: int, agent_neutral: float, rng: np.random.Generator) -> list[str]:
    """Agent turn emotions: neutral except ``Binomial(n, 1 - agent_neutral)`` turns (never the greeting),
    capped so that at least 80 % of the turns are neutral."""
    k = min(int(rng.binomial(n, 1.0 - agent_neutral)), math.floor(0.2 * n), max(0, n - 1))
    emos = ["neutral"] * n
    for i in rng.choice(np.arange(1, n), size=k, replace=False) if k else []:
        emos[int(i)] = str(AGENT_OTHER[int(rng.integers(len(AGENT_OTHER)))])
    return emos


def simulate_call(
    agent_rows: pd.DataFrame,
    client_rows: pd.DataFrame,
    rng: np.random.Generator,
    *,
    n_turns: int = 14,
    arc: Sequence[str] | None = None,
    gap: tuple[float, float] = (0.1, 1.5),
    within_turn_gap: tuple[float, float] = (0.15, 0.6),
    hold_prob: float = 0.05,
    hold: tuple[float, float] = (4.0, 15.0),
    overlap_prob: float = 0.15,
    overlap: tuple[float, float] = (0.2, 0.8),
    continue_prob: float = 0.15,
    backchannel_prob: float = 0.3,
    utterances_per_turn: tuple[int, int] = (1, 3),
    agent_neutral: float = 0.9,
    level_dbfs: tuple[float, float] = LEVEL_DBFS,
    lead_in: tuple[float, float] = (0.3, 1.5),
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Assemble one call at 16 kHz: returns ``[agent_track, client_track]`` (clean, levelled) and
    the reference rows (one per utterance; times are the VAD speech bounds in the call)."""
    arc = tuple(arc) if arc is not None else ARCS[int(rng.integers(len(ARCS)))]
    rows_of = {"agent": agent_rows, "client": client_rows}
    levels = {r: float(rng.uniform(*level_dbfs)) for r in ("agent", "client")}
    roles = _roles(n_turns, continue_prob, rng)
    agent_emo = iter(_agent_emotions(roles.count("agent"), agent_neutral, rng))
    n_client = roles.count("client")
    used: set = set()
    # (role, clip start in the call [s], clip, reference start/end in the clip [samples], meta)
    pieces: list[tuple[str, float, np.ndarray, int, int, dict]] = []
    last_end = float(rng.uniform(*lead_in))  # end of the last (non-backchannel) speech
    last_utt: tuple[float, float] | None = None
    client_turn = 0

    def place(role: str, t_ref: float, clip: np.ndarray, a: int, b: int, meta: dict) -> tuple[float, float]:
        gain = 10 ** (levels[role] / 20) / 10 ** (active_level_db(clip[a:b], WORK_SR) / 20)
        t0 = max(0.0, t_ref - a / WORK_SR)
        pieces.append((role, t0, (clip * gain).astype(np.float32), a, b, {**meta, "level_dbfs": levels[role]}))
        return t0 + a / WORK_SR, t0 + b / WORK_SR

    for k, role in enumerate(roles):
        if role == "client":
            emotion = arc[min(len(arc) - 1, int(client_turn * len(arc) / max(1, n_client)))]
            client_turn += 1
        else:
            emotion = next(agent_emo)
        if k == 0:
            t = last_end
        elif role != roles[k - 1] and last_utt is not None and rng.random() < overlap_prob:
            t = last_end - float(rng.uniform(*overlap))
            t = max(t, last_utt[0] + 0.5 * (last_utt[1] - last_utt[0]))  # at most half of the last utterance
        elif rng.random() < hold_prob:
            t = last_end + float(rng.uniform(*hold))
        else:
            t = last_end + float(rng.uniform(*gap))
        n_utt = int(rng.integers(utterances_per_turn[0], utterances_per_turn[1] + 1))
        turn_utts: list[tuple[float, float]] = []
        for u in range(n_utt):
            row, clip, a, b = _utterance(rows_of[role], emotion, rng, used)
            if u > 0:
                t = last_end + float(rng.uniform(*within_turn_gap))
            s0 = _nan_none(row["start"]) or 0.0
            meta = {"speaker": str(row["_spk"]), "role": role, "emotion": str(row["emotion"]), "turn": k,
                    "backchannel": False, "gender": str(row.get("gender", "")),
                    "source": str(row["path"]), "source_start": s0, "source_end": s0}
            src = _source(str(row["path"]), _nan_none(row["start"]), _nan_none(row["end"]))
            assert src is not None
            meta["source_start"] = s0 + src[1] / WORK_SR
            meta["source_end"] = s0 + src[2] / WORK_SR
            start, end = place(role, t, clip, a, b, meta)
            turn_utts.append((start, end))
            last_end = max(last_end, end)
            last_utt = (start, end)
        # a backchannel of the listener inside a long turn (over its speech or in one of its pauses)
        span = (turn_utts[0][0], turn_utts[-1][1])
        if span[1] - span[0] > 2.5 and rng.random() < backchannel_prob:
            listener = "client" if role == "agent" else "agent"
            bc = _backchannel(rows_of[listener], rng, used)
            if bc is not None:
                row, clip, a, b = bc
                t_bc = float(rng.uniform(span[0] + 0.5, span[1] - (b - a) / WORK_SR - 0.2))
                meta = {"speaker": str(row["_spk"]), "role": listener, "emotion": "neutral", "turn": k,
                        "backchannel": True, "gender": str(row.get("gender", "")), "source": str(row["path"]),
                        "source_start": np.nan, "source_end": np.nan}
                place(listener, t_bc, clip, a, b, meta)
    total = max(t0 + len(x) / WORK_SR for _, t0, x, _, _, _ in pieces) + float(rng.uniform(0.5, 1.5))
    n = int(np.ceil(total * WORK_SR))
    tracks = [np.zeros(n, np.float32), np.zeros(n, np.float32)]
    truth = []
    for role, t0, x, a, b, meta in pieces:
        i = round(t0 * WORK_SR)
        ch = 0 if role == "agent" else 1
        tracks[ch][i : i + len(x)] += x[: n - i]
        truth.append({"start": (i + a) / WORK_SR, "end": (i + b) / WORK_SR, "channel": ch, **meta})
    cols = ["start", "end", "speaker", "role", "emotion", "channel", "turn", "backchannel", "gender", "level_dbfs",
            "source", "source_start", "source_end"]
    return tracks, pd.DataFrame(truth)[cols]


def _backchannel(df: pd.DataFrame, rng: np.random.Generator, used: set) -> Utterance | None:
    """The first 0.3-0.6 s of a neutral utterance of the listener, faded out ("yes", "mhm"...);
    its reference is what the VAD finds in the clean fragment."""
    row, clip, a, _b = _utterance(df, "neutral", rng, used)
    end = min(len(clip), a + int(rng.uniform(0.3, 0.6) * WORK_SR))
    frag = clip[:end].copy()
    fade = min(len(frag), int(0.04 * WORK_SR))
    frag[len(frag) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    frag = np.concatenate([frag, np.zeros(int(CLIP_MARGIN * WORK_SR), np.float32)])
    bounds = speech_bounds(frag, WORK_SR)
    if bounds is None or bounds[1] - bounds[0] < int(0.15 * WORK_SR):
        return None
    return row, frag, bounds[0], bounds[1]


# ----------------------------------------------------------------------------- the line and storage

def _line(track: np.ndarray, speech: np.ndarray, snr_db: float | None, codec: bool,
          rng: np.random.Generator) -> np.ndarray:
    """One telephone line at 8 kHz: band, noise at ``snr_db`` relative to the active speech
    (``speech``: 16 kHz mask of the reference speech), G.711 mu-law."""
    y, sr = telephone(track, WORK_SR, codec=False)
    if snr_db is not None:
        mask = speech[:: WORK_SR // sr][: len(y)]
        p_all = float(np.mean(np.square(y, dtype=np.float64)))
        p_speech = float(np.mean(np.square(y[mask], dtype=np.float64))) if mask.any() else p_all
        if p_all > 0 and p_speech > 0:
            # add_noise scales the noise to the power of the whole track; correct for its silences
            y = add_noise(y, snr_db + 10 * np.log10(p_all / p_speech), rng)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return mulaw(y) if codec else y.astype(np.float32)


def _mask(truth: pd.DataFrame, n: int, role: str | None = None) -> np.ndarray:
    m = np.zeros(n, bool)
    for r in truth.itertuples():
        if role is None or r.role == role:
            m[int(r.start * WORK_SR) : int(r.end * WORK_SR)] = True
    return m


# ----------------------------------------------------------------------------- RTTM and references

def write_rttm(truth: pd.DataFrame, path: str | os.PathLike, file_id: str, label: str = "role") -> Path:
    """NIST RTTM, one ``SPEAKER`` line per row of ``truth`` (speaker name from column ``label``)."""
    p = Path(path)
    with open(p, "w") as f:
        for r in truth.sort_values("start").itertuples():
            f.write(f"SPEAKER {file_id} 1 {r.start:.3f} {r.end - r.start:.3f} <NA> <NA> {getattr(r, label)} "
                    "<NA> <NA>\n")
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


def annotation(table: pd.DataFrame, label: str = "role"):
    """A ``pyannote.core.Annotation`` of a table with ``start``, ``end`` and ``label`` columns
    (a reference truth CSV, or a predicted turn table after ``reset_index()``)."""
    from pyannote.core import Annotation, Segment

    a = Annotation()
    for i, (s, e, lab) in enumerate(zip(table["start"], table["end"], table[label])):
        if e > s:
            a[Segment(float(s), float(e)), i] = str(lab)
    return a


# ----------------------------------------------------------------------------- many calls

def _pairs(df: pd.DataFrame, n_calls: int, same_gender_share: float, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Agent/client speaker pairs, at least ``same_gender_share`` of them same-gender when the
    manifest's ``gender`` column allows both kinds."""
    spk = df.groupby("_spk")["emotion"].agg(lambda e: set(e))
    if len(spk) < 2:
        raise SimulationError("the manifest needs at least two different speakers")
    agents = [s for s, e in spk.items() if e & {"neutral", "calm"}]
    clients = [s for s, e in spk.items() if "angry" in e or len(e) > 2]
    if not agents or not clients:
        raise SimulationError("the manifest needs at least two speakers, one with neutral and one with "
                              "emotional speech")
    gender = df.groupby("_spk")["gender"].first().astype(str) if "gender" in df.columns else None
    n_same = math.ceil(same_gender_share * n_calls)
    want_same = rng.permutation([True] * n_same + [False] * (n_calls - n_same))
    out = []
    for same in want_same:
        a = agents[int(rng.integers(len(agents)))]
        others = [c for c in clients if c != a] or [s for s in spk.index if s != a]
        if gender is not None:
            kind = [c for c in others if (gender[c] == gender[a]) == bool(same)]
            if not kind:  # e.g. a single-gender corpus: try another agent before giving up on the kind
                for a2 in rng.permutation(agents):
                    kind = [c for c in clients if c != a2 and (gender[c] == gender[a2]) == bool(same)]
                    if kind:
                        a = str(a2)
                        break
            others = kind or others
        out.append((a, others[int(rng.integers(len(others)))]))
    return out


def simulate_calls(
    manifest: pd.DataFrame | str | os.PathLike,
    out_dir: str | os.PathLike,
    n_calls: int = 10,
    seed: int = 0,
    *,
    stereo: bool | str = "also",
    turns: tuple[int, int] = (10, 18),
    snr_db: tuple[float, float] | None = (15.0, 35.0),
    codec: bool = True,
    mp3_share: float = 0.0,
    same_gender_share: float = 0.5,
    hold_prob: float = 0.05,
    overlap_prob: float = 0.15,
    continue_prob: float = 0.15,
    backchannel_prob: float = 0.3,
    agent_neutral: float = 0.9,
    level_dbfs: tuple[float, float] = LEVEL_DBFS,
    arcs: Sequence[Sequence[str]] | None = None,
    prefix: str = "call",
    progress: bool = False,
) -> pd.DataFrame:
    """Simulate ``n_calls`` two-speaker telephone calls from ``manifest`` into ``out_dir``.

    ``manifest``: a DataFrame or a manifest CSV path (:func:`callemo.train.manifest.read_manifest`).
    ``stereo``: ``False`` writes mono calls only, ``True`` stereo only, ``"also"`` (default) both.
    ``turns``: range of the number of turns (the agent opens). ``snr_db``: range of the SNR drawn
    per call (``None`` = no noise). ``mp3_share``: share of the calls stored as 16 kbps MP3 after
    the G.711 line (``.mp3`` instead of ``.wav``). ``same_gender_share``: least share of
    same-gender pairs. ``agent_neutral``: chance that an agent turn is neutral (at least 80 % of
    the turns are, whatever the draw). The other arguments: see the module docstring and
    :func:`simulate_call`. Returns the call index (also written as ``calls.csv``): ``call, mono,
    stereo, rttm, csv, duration, agent, client, agent_gender, client_gender, same_gender, arc,
    snr_db, storage, seed``.
    """
    if n_calls < 1:
        raise SimulationError(f"--calls must be at least 1 (got {n_calls})")
    if stereo not in (True, False, "also"):
        raise SimulationError(f"stereo must be True, False or 'also' (got {stereo!r})")
    if not 0.0 <= mp3_share <= 1.0 or not 0.0 <= same_gender_share <= 1.0:
        raise SimulationError(f"mp3_share and same_gender_share must lie in [0, 1] "
                              f"(got {mp3_share}, {same_gender_share})")
    df = _as_manifest(manifest)
    if df.empty:
        raise SimulationError("the manifest has no usable rows")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pairs = _pairs(df, n_calls, same_gender_share, rng)
    n_mp3 = round(mp3_share * n_calls)
    as_mp3 = rng.permutation([True] * n_mp3 + [False] * (n_calls - n_mp3))
    gender = df.groupby("_spk")["gender"].first().astype(str) if "gender" in df.columns else None
    rows = []
    it: Any = range(n_calls)
    if progress:
        from rich.progress import track

        it = track(it, description="simulating calls")
    for i in it:
        a, c = pairs[i]
        arc = None if arcs is None else tuple(arcs[int(rng.integers(len(arcs)))])
        n_turns = int(rng.integers(turns[0], turns[1] + 1))
        tracks, truth = simulate_call(
            df[df["_spk"] == a], df[df["_spk"] == c], rng, n_turns=n_turns, arc=arc, hold_prob=hold_prob,
            overlap_prob=overlap_prob, continue_prob=continue_prob, backchannel_prob=backchannel_prob,
            agent_neutral=agent_neutral, level_dbfs=level_dbfs)
        name = f"{prefix}{i:04d}"
        snr = None if snr_db is None else float(rng.uniform(*snr_db))
        line_seed = int(rng.integers(2**31))
        storage = "mp3" if as_mp3[i] else "g711"
        ext = ".mp3" if as_mp3[i] else ".wav"
        paths = {"mono": "", "stereo": ""}
        n = len(tracks[0])
        if stereo in (False, "also"):
            y = _line(tracks[0] + tracks[1], _mask(truth, n), snr, codec, np.random.default_rng(line_seed))
            paths["mono"] = str(_store(out / f"{name}{ext}", y, storage))
        if stereo in (True, "also"):
            chans = [_line(tr, _mask(truth, n, role), snr, codec, np.random.default_rng(line_seed + 1 + j))
                     for j, (tr, role) in enumerate(zip(tracks, ("agent", "client")))]
            paths["stereo"] = str(_store(out / f"{name}_stereo{ext}", np.stack(chans), storage))
        truth.insert(0, "file", name)
        truth = truth.sort_values("start").reset_index(drop=True)
        rttm = write_rttm(truth, out / f"{name}.rttm", name)
        truth.to_csv(out / f"{name}.csv", index=False, float_format="%.3f")
        arc_used = "-".join(truth.loc[(truth.role == "client") & ~truth.backchannel, "emotion"].drop_duplicates())
        ga = None if gender is None else gender[a]
        gc = None if gender is None else gender[c]
        rows.append({"call": name, **paths, "rttm": str(rttm), "csv": str(out / f"{name}.csv"),
                     "duration": n / WORK_SR, "agent": a, "client": c, "agent_gender": ga, "client_gender": gc,
                     "same_gender": None if gender is None else bool(ga == gc), "arc": arc_used, "snr_db": snr,
                     "storage": storage, "seed": seed})
    index = pd.DataFrame(rows)
    index.to_csv(out / "calls.csv", index=False)
    return index


def _store(path: Path, y: np.ndarray, storage: str) -> Path:
    if storage == "mp3":
        return write_mp3(path, y, 8000)
    return save_audio(path, y, 8000, subtype="PCM_16")


def corpus_calls(
    corpus: str,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    n_calls: int = 6,
    seed: int = 0,
    *,
    setting: str | None = "4class",
    mp3_share: float = 1 / 3,
    **kw: Any,
) -> pd.DataFrame:
    """Calls simulated from ONE shared corpus (``data_dir/corpus``), e.g. the held-out corpus of
    a leave-one-corpus-out fold: its manifest reduced to ``setting`` (default the 4 classes of the
    default model), a third of the calls stored as 16 kbps MP3, then :func:`simulate_calls`
    (``kw``). The calls go to ``out_dir``; returns the call index."""
    from ..labels.schemes import apply_setting

    m = corpus_manifest(corpus, Path(data_dir) / corpus)
    if setting is not None:
        m = apply_setting(m, setting).reset_index(drop=True)
    return simulate_calls(m, out_dir, n_calls, seed, mp3_share=mp3_share, prefix=f"{corpus}_", **kw)


__all__ = [
    "ARCS",
    "LEVEL_DBFS",
    "SIM_VERSION",
    "WORK_SR",
    "SimulationError",
    "active_level_db",
    "annotation",
    "corpus_calls",
    "corpus_manifest",
    "read_rttm",
    "simulate_call",
    "simulate_calls",
    "speech_bounds",
    "write_mp3",
    "write_rttm",
]
