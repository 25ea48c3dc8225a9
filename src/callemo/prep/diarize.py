"""Speaker diarization of mono calls, built for two people taking turns.

The naive recipe (speaker embeddings of short 1.5 s windows, spectral clustering into two) confuses
an angry client with the same client calm: one short window carries too little of the voice and a
lot of the emotion. This module uses what a call gives:

1. **Windows** of ``win`` seconds (1.2 s, hop ``win/2``) inside the speech regions; resemblyzer
   d-vectors (256-d, 16 kHz; the LSTM runs once per window, batched); the audio of each region
   is level-normalised first so loudness (which emotion changes) does not steer the voice space.
2. **Change points** inside long regions: the cosine distance between the embeddings of the
   adjacent, non-overlapping windows left and right of each window boundary; a peak above
   ``cp_threshold`` cuts the region (a turn change without a pause, often an overlap).
3. **Units** = the pieces between pauses and change points, i.e. speaker-homogeneous turns, each
   embedded by the mean of its windows (a 3 s turn is far more reliable than a 1.5 s window).
4. **Clustering** of units into speakers. Two speakers (the default): :func:`two_party_partition`
   (bipartitions of 2/3/4-means clusters scored by compactness + turn alternation); other
   counts: duration-weighted spherical k-means; ``"auto"``: :func:`choose_n_speakers`.
5. **Resegmentation**: a Viterbi pass over all windows of the call with the speaker centroids,
   where changing speaker inside a region costs more than at a pause, then centroids are
   re-estimated and the pass repeated; turns shorter than ``min_turn`` are absorbed by their
   neighbours.
6. **Overlap**: a speaker change with no pause between the two speakers is flagged as possible
   overlapped speech (``overlap`` column; the stretch is in :attr:`DiarizationResult.overlaps`).

Same-gender voices whose emotion changes (issue 9): the d-vectors are projected off the
directions along which one speaker's voice moves with emotion (``nap``, learnt on the shared
corpora, :func:`nuisance_directions`), and per-call GMM speaker models
(:mod:`callemo.prep.speaker_models`) are fused with the d-vectors in the clustering (turn
supervectors) and in the resegmentation (window log-likelihoods). ``DiarizationResult.confidence``
says how clearly the windows split between the speakers (:func:`separation_confidence`).

``embedding="mfcc"`` (or ``"auto"`` without resemblyzer installed) runs the same pipeline on
MFCC mean/std window statistics (weaker).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import resample
from ..io.voice_encoder import EMB_SR, get_encoder, mel_frames  # shared with callemo.features.dvector
from ..io.voice_encoder import normalise_rms as _normalise_level
from ..utils import release_free_memory
from .speaker_models import CallGMM, add_deltas, cepstra, window_means

HOP_S = 0.01  # mel frame hop


@functools.cache
def nuisance_directions() -> np.ndarray:
    """The shipped nuisance directions of resemblyzer d-vectors, ``(4, 256)``: the top within-speaker
    directions of telephone-quality utterances of the shared corpora (RAVDESS, SAVEE, nEMO; every
    emotion), fitted by ``benchmarks/speaker_utterances.py --fit-nap``. Derived from corpora
    licensed for non-commercial use, like the default emotion model."""
    path = Path(__file__).with_name("speaker_nap.npy")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shipped nuisance directions are missing (reinstall callemo)")
    return np.load(path).astype(np.float32)


@dataclass
class DiarizationResult:
    """Turns ``[(start, end, speaker)]`` plus what the diarizer saw (in the input's time base).

    ``confidence``: how clearly the call's speech splits between the found speakers (0..1, see
    :func:`separation_confidence`); ``nan`` with fewer than two speakers.
    """

    turns: list[tuple[float, float, int]]
    overlaps: list[tuple[float, float]] = field(default_factory=list)
    n_speakers: int = 0
    centroids: np.ndarray | None = None
    confidence: float = float("nan")


@dataclass
class Windows:
    """What the diarizer sees of a call: one row per analysis window, plus the frames under them.

    ``emb (n, d)`` unit-norm window embeddings, ``bounds (n, 2)`` seconds, ``owner (n,)`` region
    index; ``frames (N, 2 x n_cep)`` call-normalised telephone-band cepstra + deltas of all speech,
    ``spans (n, 2)`` each window's ``[first, last + 1)`` frame.
    """

    emb: np.ndarray
    bounds: np.ndarray
    owner: np.ndarray
    frames: np.ndarray
    spans: np.ndarray


# ----------------------------------------------------------------------------- embeddings

def _window_bounds(n_frames: int, win: int, hop: int) -> list[tuple[int, int]]:
    if n_frames <= win:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - win + 1, hop))
    if starts[-1] + win < n_frames:
        starts.append(n_frames - win)
    return [(s, s + win) for s in starts]


#: windows per d-vector forward pass: the LSTM's activations grow with it (256 windows peaked about
#: 250 MB above the rest of a one-hour call; 64 costs no measurable speed)
EMB_BATCH = 64


def window_embeddings(
    x: np.ndarray, regions: Sequence[tuple[float, float]], win: float = 1.2, hop: float | None = None,
    sr: int = EMB_SR, embedding: str = "auto",
) -> Windows:
    """Windows of ``win`` s (hop ``hop``, default ``win/2``) inside ``regions`` of audio ``x`` at ``sr``
    (each region is brought to 16 kHz on its own, so a long call is never held twice in memory).

    ``embedding``: ``"resemblyzer"`` (d-vectors), ``"mfcc"`` (mean and standard deviation of the
    window's cepstra, standardised over the call: weaker, needs no model) or ``"auto"``
    (resemblyzer when it is installed).
    """
    import torch

    if embedding not in ("auto", "resemblyzer", "mfcc"):
        raise ValueError(f"embedding must be 'auto', 'resemblyzer' or 'mfcc' (got {embedding!r})")
    enc = get_encoder() if embedding != "mfcc" else None
    if enc is None and embedding == "resemblyzer":
        raise ImportError("embedding='resemblyzer' needs the resemblyzer package (pip install --no-deps resemblyzer)")
    wf = round(win / HOP_S)
    hf = round((hop or win / 2) / HOP_S)
    frames: list[np.ndarray] = []
    bounds: list[tuple[float, float]] = []
    owner: list[int] = []
    spans: list[tuple[int, int]] = []
    batches: dict[int, list[tuple[int, np.ndarray]]] = {}
    n_frames = 0
    for ri, (s, e) in enumerate(regions):
        a, b = int(s * sr), int(e * sr)
        seg = x[a:b]
        if sr != EMB_SR:
            seg = resample(seg, sr, EMB_SR)
        if len(seg) < 400:
            seg = np.pad(seg, (0, 400 - len(seg)))
        m = mel_frames(_normalise_level(seg))
        frames.append(add_deltas(cepstra(m)))
        for ws, we in _window_bounds(len(m), wf, hf):
            bounds.append((s + ws * HOP_S, min(e, s + we * HOP_S)))
            owner.append(ri)
            spans.append((n_frames + ws, n_frames + we))
            if enc is not None:
                batches.setdefault(we - ws, []).append((len(bounds) - 1, m[ws:we]))
        n_frames += len(m)
    n = len(bounds)
    F = np.concatenate(frames).astype(np.float32, copy=False) if frames else np.zeros((0, 32), np.float32)
    frames.clear()  # the per-region pieces are in F now (a one-hour call: ~46 MB each)
    if len(F):  # standardised in place: no full-size temporaries on a long call
        mu, sd = F.mean(0), F.std(0) + 1e-6
        F -= mu
        F /= sd
    S = np.array(spans, int).reshape(-1, 2)
    if n == 0:
        return Windows(np.zeros((0, 256), np.float32), np.zeros((0, 2)), np.zeros(0, int), F, S)
    if enc is None:
        half = F.shape[1] // 2  # statics only
        mu = window_means(F[:, :half], S)
        sd = np.sqrt(np.maximum(window_means(F[:, :half] ** 2, S) - mu**2, 0))
        emb = np.hstack([mu, sd])
        emb = (emb - emb.mean(0)) / (emb.std(0) + 1e-6)
        return Windows(_normalise(emb).astype(np.float32), np.array(bounds), np.array(owner), F, S)
    emb = np.zeros((n, 256), np.float32)
    release_free_memory()  # the per-region resampling and mel temporaries, before the encoder's
    with torch.inference_mode():
        for items in batches.values():
            for k in range(0, len(items), EMB_BATCH):
                chunk = items[k : k + EMB_BATCH]
                batch = torch.from_numpy(np.stack([m for _, m in chunk]))
                out = enc(batch).numpy()
                emb[[i for i, _ in chunk]] = out
    batches.clear()
    release_free_memory()  # the encoder's activations, before the clustering and speaker models
    return Windows(emb, np.array(bounds), np.array(owner), F, S)


# ----------------------------------------------------------------------------- clustering

def _normalise(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-9)


def spherical_kmeans(X: np.ndarray, k: int, weights: np.ndarray | None = None, *, n_init: int = 20,
                     iters: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted k-means on the unit sphere (cosine). Returns ``(labels, centroids, objective)``."""
    X = _normalise(np.asarray(X, np.float64))
    n = len(X)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    if k <= 1 or n <= k:
        lab = np.zeros(n, int) if k <= 1 else np.arange(n) % max(k, 1)
        C = np.stack([_normalise((w[lab == j, None] * X[lab == j]).sum(0)) for j in range(max(1, min(k, n)))])
        return lab, C, float((w * (X * C[lab]).sum(1)).sum())
    rng = np.random.default_rng(seed)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(n_init):
        # k-means++ on cosine distance, weighted
        idx = [int(rng.choice(n, p=w / w.sum()))]
        for _j in range(1, k):
            d = np.min(1 - X @ X[idx].T, axis=1).clip(0) * w
            idx.append(int(rng.choice(n, p=d / d.sum())) if d.sum() > 0 else int(rng.integers(n)))
        C = X[idx].copy()
        lab = np.argmax(X @ C.T, axis=1)
        for it in range(iters):
            if it > 0:
                new = np.argmax(X @ C.T, axis=1)
                if np.array_equal(new, lab):
                    break
                lab = new
            for j in range(k):
                m = lab == j
                C[j] = _normalise((w[m, None] * X[m]).sum(0)) if m.any() else X[int(rng.integers(n))]
        obj = float((w * (X * C[lab]).sum(1)).sum())
        if best is None or obj > best[2]:
            best = (lab.copy(), C.copy(), obj)
    assert best is not None  # n_init >= 1
    return best


def choose_n_speakers(X: np.ndarray, weights: np.ndarray, max_speakers: int = 4, *, same_voice: float = 0.9,
                      distinct: float = 0.7) -> int:
    """Estimate the number of speakers (1..``max_speakers``) from turn embeddings.

    1 when the centroids of the best two-party split are closer than ``same_voice`` (cosine; on
    simulated calls two different speakers gave 0.63-0.90, one speaker split by emotion 0.85-0.98);
    more than 2 only while every pair of k-means centroids stays below ``distinct`` (emotion splits
    one voice into clusters about 0.9 apart, so a third cluster must be clearly another voice).
    """
    X = _normalise(X)
    if len(X) < 3:
        return 1
    _, C = two_party_partition(X, weights)
    if float(C[0] @ C[1]) > same_voice:
        return 1
    k = 2
    for kk in range(3, min(max_speakers, len(X) - 1) + 1):
        _, Ck, _ = spherical_kmeans(X, kk, weights)
        sim = Ck @ Ck.T
        if np.max(sim[~np.eye(kk, dtype=bool)]) < distinct:
            k = kk
        else:
            break
    return k


def alternation(labels: np.ndarray) -> float:
    """Fraction of consecutive units (in time order) where the speaker changes."""
    labels = np.asarray(labels)
    return float(np.mean(labels[1:] != labels[:-1])) if len(labels) > 1 else 0.0


def two_party_partition(U: np.ndarray, weights: np.ndarray, *, turn_taking: float = 0.5, max_k: int = 4,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split time-ordered turn embeddings ``U`` between two speakers who take turns.

    Emotion moves a voice in embedding space, so the tightest 2-way split can be "angry client"
    vs "everybody else". Candidates are every bipartition of 2, 3 and 4-means clusters; each is
    scored by its acoustic compactness (mean weighted cosine to its side's centroid) plus
    ``turn_taking`` x its alternation (share of consecutive turns that change speaker): two
    people on a call take turns, an emotional phase of one of them does not alternate with
    the calm rest of the call.
    """
    from itertools import combinations

    X = _normalise(np.asarray(U, np.float64))
    w = np.asarray(weights, float)
    n = len(X)
    if n < 2:
        return np.zeros(n, int), _normalise(X.mean(0, keepdims=True)).repeat(2, 0)
    cands: dict[tuple, np.ndarray] = {}
    for k in range(2, min(max_k, n) + 1):
        lab, _, _ = spherical_kmeans(X, k, w, seed=seed)
        ks = sorted(set(lab.tolist()))
        for r in range(1, len(ks) // 2 + 1):
            for group in combinations(ks, r):
                two = np.isin(lab, group).astype(int)
                if 0 < two.sum() < n:
                    key = tuple(two if two[0] == 0 else 1 - two)
                    cands[key] = np.array(key)
    best: tuple[np.ndarray, np.ndarray] | None = None
    best_score = -np.inf
    for two in cands.values():
        C = np.stack([_normalise((w[two == j, None] * X[two == j]).sum(0)) for j in (0, 1)])
        compact = float((w * (X * C[two]).sum(1)).sum() / w.sum())
        score = compact + turn_taking * alternation(two)
        if score > best_score:
            best, best_score = (two, C), score
    if best is None:  # every unit in one k-means cluster: no bipartition to score
        return np.zeros(n, int), _normalise(X.mean(0, keepdims=True)).repeat(2, 0)
    return best


# ----------------------------------------------------------------------------- resegmentation

def _viterbi(scores: np.ndarray, switch_cost: np.ndarray) -> np.ndarray:
    """Best state path: ``scores (n, k)`` to maximise, ``switch_cost[i]`` paid to change state between
    step i-1 and i."""
    n, k = scores.shape
    if n == 0:
        return np.zeros(0, int)
    back = np.zeros((n, k), int)
    v = scores[0].copy()
    for i in range(1, n):
        stay = v
        best_prev = int(np.argmax(v))
        move = v[best_prev] - switch_cost[i]
        choose_move = move > stay
        back[i] = np.where(choose_move, best_prev, np.arange(k))
        v = np.where(choose_move, move, stay) + scores[i]
    path = np.zeros(n, int)
    path[-1] = int(np.argmax(v))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def _units(E: np.ndarray, owner: np.ndarray, n_regions: int, gap_w: int, cp_threshold: float) -> np.ndarray:
    """Unit index of each window: regions cut at embedding change points between adjacent disjoint
    windows (``j`` and ``j + gap_w``) whose cosine distance exceeds ``cp_threshold``."""
    unit = np.zeros(len(E), int)
    u = -1
    for ri in range(n_regions):
        idx = np.flatnonzero(owner == ri)
        u += 1
        if len(idx) >= 2 * gap_w:
            d = np.array([1 - float(E[idx[j]] @ E[idx[j + gap_w]]) for j in range(len(idx) - gap_w)])
            cuts: set[int] = set()
            for j in np.argsort(-d):
                if d[j] < cp_threshold:
                    break
                c = int(j) + (gap_w + 1) // 2  # first window past the boundary between j and j+gap_w
                if all(abs(c - q) >= gap_w + 1 for q in cuts):
                    cuts.add(c)
            for j, i in enumerate(idx):
                if j in cuts:
                    u += 1
                unit[i] = u
        else:
            unit[idx] = u
    return unit


def _frame_mask(spans: np.ndarray, n_frames: int) -> np.ndarray:
    """Boolean mask of the frames covered by ``spans``."""
    cover = np.zeros(n_frames + 1, int)
    np.add.at(cover, spans[:, 0], 1)
    np.add.at(cover, spans[:, 1], -1)
    return np.cumsum(cover)[:n_frames] > 0


def _centre(V: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _normalise(V - (w[:, None] * V).sum(0) / w.sum())


def separation_confidence(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, *, scale: float = 0.1) -> float:
    """How clearly windows belong to their speaker: the duration-weighted mean of
    ``min(1, margin / scale)``, where ``margin`` is a window's score (cosine to the speaker's
    centroid) for its own speaker minus the best other speaker's (negative margins count as 0). 1 = every window sits
    at least ``scale`` closer to its own speaker; near 0 = the two speakers' models cannot tell the
    windows apart (same-gender voices, one voice split by emotion)."""
    n, k = scores.shape
    if k < 2 or n == 0:
        return float("nan")
    own = scores[np.arange(n), labels]
    other = np.where(np.arange(k)[None, :] == labels[:, None], -np.inf, scores).max(1)
    m = np.clip((own - other) / scale, 0.0, 1.0)
    return float((weights * m).sum() / weights.sum())


def diarize_regions(
    x: np.ndarray,
    sr: int,
    regions: Sequence[tuple[float, float]],
    n_speakers: int | str = 2,
    *,
    max_speakers: int = 4,
    win: float = 1.2,
    hop: float | None = None,
    cp_threshold: float = 0.45,
    kappa: float = 40.0,
    switch_in_region: float = 2.0,
    switch_at_pause: float = 0.1,
    min_turn: float = 0.6,
    iterations: int = 4,
    turn_taking: float = 0.5,
    embedding: str = "auto",
    nap: bool | np.ndarray = True,
    speaker_model: str | None = "gmm",
    gmm_components: int = 16,
    gmm_weight: float = 0.5,
    sv_weight: float = 0.5,
    seed: int = 0,
) -> DiarizationResult:
    """The diarizer: turns ``[(start, end, speaker_index)]`` of 1-D audio ``x`` within ``regions``.

    ``speaker_model="gmm"`` adds the per-call speaker models of :mod:`callemo.prep.speaker_models`:
    turn supervectors fused with the d-vectors for clustering (``sv_weight``: share of the
    supervector in the fused cosine) and window log-likelihoods fused with the d-vector cosine in
    the resegmentation (``gmm_weight``: its weight after both are brought to the same spread).
    ``None`` uses the d-vectors alone. ``nap``: project the d-vectors off the directions along
    which one speaker's voice moves with emotion (``True``: the shipped directions,
    :func:`nuisance_directions`; an array ``(k, d)``: those; ``False``: none).
    """
    if speaker_model not in (None, "gmm"):
        raise ValueError(f"speaker_model must be 'gmm' or None (got {speaker_model!r})")
    regions = [(float(s), float(e)) for s, e in regions if e - s > 0.05]
    if not regions:
        return DiarizationResult([], [], 0)
    hop = win / 2 if hop is None else hop
    W = window_embeddings(np.asarray(x, np.float32), regions, win=win, hop=hop, sr=sr, embedding=embedding)
    E, B, owner = W.emb, W.bounds, W.owner
    if nap is not False and E.shape[1] == 256:  # d-vectors (the MFCC fallback has no learnt directions)
        V = nuisance_directions() if nap is True else np.asarray(nap, np.float32)
        E = _normalise(E - (E @ V.T) @ V).astype(np.float32)
    n = len(E)
    unit = _units(E, owner, len(regions), max(1, round(win / hop)), cp_threshold)
    n_units = int(unit.max()) + 1
    U = np.stack([_normalise(E[unit == j].mean(0)) for j in range(n_units)])
    U_dvec = U  # the speaker-count thresholds of choose_n_speakers are cosines of d-vectors
    dur = np.array([B[unit == j, 1].max() - B[unit == j, 0].min() for j in range(n_units)])
    gmm = None
    if speaker_model == "gmm" and len(W.frames) >= 200:
        gmm = CallGMM(gmm_components, seed=seed).fit(W.frames)
        post = gmm.posteriors(W.frames)
        if sv_weight > 0 and n_units > 1:
            # a unit's windows are consecutive windows of one region, so its frames are one stretch
            first = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
            fa, fb = W.spans[first, 0], np.maximum.reduceat(W.spans[:, 1], first)
            SV = np.stack([gmm.supervector(gmm.adapt(W.frames[a:b], post[a:b])) for a, b in zip(fa, fb)])
            U = np.hstack([np.sqrt(1 - sv_weight) * _centre(U, dur), np.sqrt(sv_weight) * _centre(SV, dur)])
    # --- clustering of units
    k = choose_n_speakers(U_dvec, dur, max_speakers) if n_speakers == "auto" else int(n_speakers)
    k = max(1, min(k, n_units))
    if k == 2 and turn_taking > 0:
        lab_u, _ = two_party_partition(U, dur, turn_taking=turn_taking, seed=seed)
    else:
        lab_u, _, _ = spherical_kmeans(U, k, dur, seed=seed)
    # --- resegmentation over windows (Viterbi), with speaker models re-estimated each pass
    switch = np.full(n, switch_in_region)
    switch[0] = 0.0
    new_region = np.concatenate([[True], owner[1:] != owner[:-1]])
    switch[new_region] = switch_at_pause
    lab = lab_u[unit]
    wdur = B[:, 1] - B[:, 0]

    def centroids(lab: np.ndarray, prev: np.ndarray) -> np.ndarray:
        return np.stack([_normalise(E[lab == j].mean(0)) if (lab == j).any() else prev[j] for j in range(k)])

    def fused_scores(lab: np.ndarray, C: np.ndarray) -> np.ndarray:
        S = E @ C.T
        if gmm is None or k < 2:
            return S
        L = np.zeros((n, k))
        for j in range(k):
            m = _frame_mask(W.spans[lab == j], len(W.frames))
            means = gmm.adapt(W.frames, post * m[:, None]) if m.any() else gmm.fitted.means_
            L[:, j] = window_means(gmm.frame_loglik(W.frames, means), W.spans)
        Dl, Ds = L - L.mean(1, keepdims=True), S - S.mean(1, keepdims=True)
        scale = float(Ds.std() / (Dl.std() + 1e-9))
        return S + gmm_weight * scale * Dl

    C = centroids(lab, np.zeros((k, E.shape[1]), E.dtype))
    for _ in range(iterations if k > 1 else 0):
        lab = _viterbi(kappa * fused_scores(lab, C), switch)
        C = centroids(lab, C)
    # the d-vector part alone: comparable across calls (the GMM part is rescaled per call)
    confidence = separation_confidence(E @ C.T, lab, wdur) if k > 1 else float("nan")
    # --- turns: window labels -> time stretches inside regions
    turns: list[list] = []
    overlaps: list[tuple[float, float]] = []
    for ri, (s, e) in enumerate(regions):
        idx = np.flatnonzero(owner == ri)
        if len(idx) == 0:
            continue
        cur_start, cur_lab = s, lab[idx[0]]
        for j in range(1, len(idx)):
            if lab[idx[j]] != cur_lab:
                # change between windows j-1 and j: midway between their centres
                t = 0.25 * (B[idx[j - 1], 0] + B[idx[j - 1], 1] + B[idx[j], 0] + B[idx[j], 1])
                t = min(max(t, cur_start), e)
                turns.append([cur_start, t, int(cur_lab)])
                overlaps.append((max(s, t - 0.25), min(e, t + 0.25)))
                cur_start, cur_lab = t, lab[idx[j]]
        turns.append([cur_start, e, int(cur_lab)])
    turns = _absorb_short(turns, min_turn)
    return DiarizationResult([(float(a), float(b), int(c)) for a, b, c in turns], overlaps, k, C, confidence)


def _absorb_short(turns: list[list], min_turn: float) -> list[list]:
    """Turns shorter than ``min_turn`` that touch a neighbour (no pause) take its speaker; then
    touching turns of the same speaker are joined."""
    if not turns:
        return turns
    changed = True
    while changed:
        changed = False
        for i, (a, b, c) in enumerate(turns):
            if b - a >= min_turn:
                continue
            left = turns[i - 1] if i > 0 and abs(turns[i - 1][1] - a) < 1e-6 else None
            right = turns[i + 1] if i + 1 < len(turns) and abs(turns[i + 1][0] - b) < 1e-6 else None
            cands = [t for t in (left, right) if t is not None and t[2] != c]
            if cands:
                turns[i][2] = max(cands, key=lambda t: t[1] - t[0])[2]
                changed = True
        merged = [turns[0]]
        for t in turns[1:]:
            if t[2] == merged[-1][2] and abs(t[0] - merged[-1][1]) < 1e-6:
                merged[-1][1] = t[1]
            else:
                merged.append(t)
        if len(merged) < len(turns):
            changed = True
        turns = merged
    return turns

