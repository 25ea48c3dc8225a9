"""d-vectors of the shared corpora's utterances at telephone quality, for learning which directions
of the d-vector space move with emotion inside one speaker (the nuisance projection of
:func:`callemo.prep.speaker_models.fit_nuisance`).

Each utterance is trimmed, degraded (8 kHz, 300-3400 Hz, noise at 15-30 dB SNR, G.711) and embedded
exactly as the diarizer embeds a turn (mean of its 1.2 s windows). Writes an ``.npz`` with
``emb (n, 256)``, ``speaker``, ``corpus``, ``emotion``:

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speaker_utterances.py --per-speaker 40 \
        --out /tmp/speaker_utts.npz --fit-nap src/callemo/prep/speaker_nap.npy

(an existing ``--out`` file is reused; ``--evaluate`` prints the nested choice of k below).
The number of directions (``--nap-k 4``) was chosen by
nested leave-one-corpus-out: for each held-out corpus, k in {0, 1, 2, 4, 8, 16} was scored on the
other two (fit on one, 2-means clustering of same-gender speaker pairs of the other), and 4 won in
all three folds.
"""

from __future__ import annotations

import argparse
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _init() -> None:
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")


def _embed(args: tuple[str, int]) -> np.ndarray:
    path, seed = args
    import librosa

    from callemo.io import load_audio, telephone
    from callemo.prep.diarize import _normalise, window_embeddings

    x, sr = load_audio(path, 16000)
    a, b = librosa.effects.trim(x, top_db=35)[1]
    rng = np.random.default_rng(seed)
    y, sr8 = telephone(x[a:b], sr, snr_db=float(rng.uniform(15, 30)), rng=rng)
    W = window_embeddings(y, [(0.0, len(y) / sr8)], sr=sr8)
    return _normalise(W.emb.mean(0))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-speaker", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fit-nap", default=None, help="also write the nuisance directions (all corpora) to this .npy")
    ap.add_argument("--nap-k", type=int, default=4)
    ap.add_argument("--evaluate", action="store_true", help="nested leave-one-corpus-out choice of k (see above)")
    a = ap.parse_args(argv)
    if a.evaluate and Path(a.out).exists():
        return _evaluate(Path(a.out), a.seed)
    if a.fit_nap and Path(a.out).exists():
        return _fit_nap(Path(a.out), Path(a.fit_nap), a.nap_k)
    from callemo.simulate.calls import corpus_manifest

    parts = []
    for corpus in ("ravdess", "savee", "nemo"):
        m = corpus_manifest(corpus, SHARED / corpus)
        m = m.sample(frac=1.0, random_state=a.seed).groupby("speaker").head(a.per_speaker)
        parts.append(m.assign(corpus=corpus))
    m = pd.concat(parts, ignore_index=True)
    with ProcessPoolExecutor(a.jobs, initializer=_init) as ex:
        emb = np.stack(list(ex.map(_embed, [(p, a.seed + i) for i, p in enumerate(m.path)], chunksize=16)))
    np.savez_compressed(a.out, emb=emb, speaker=(m.corpus + ":" + m.speaker.astype(str)).to_numpy(str),
                        corpus=m.corpus.to_numpy(str), emotion=m.emotion.to_numpy(str))
    print(f"{len(m)} utterances -> {a.out}")
    if a.fit_nap:
        _fit_nap(Path(a.out), Path(a.fit_nap), a.nap_k)


def _fit_nap(utts: Path, out: Path, k: int) -> None:
    from callemo.prep.speaker_models import fit_nuisance

    d = np.load(utts)
    np.save(out, fit_nuisance(d["emb"], d["speaker"], k))
    print(f"{k} nuisance directions from {len(d['emb'])} utterances of {len(set(d['speaker']))} speakers -> {out}")



def _pair_error(X: np.ndarray, spk: np.ndarray, same_gender: list[tuple[str, str]], rng: np.random.Generator) -> float:
    """Mean share of utterances 2-means puts on the wrong side, over same-gender speaker pairs
    (10 random utterances of each, 3 draws per pair, embeddings centred on the pair)."""
    from callemo.prep.diarize import _normalise, spherical_kmeans

    errs = []
    for a, b in same_gender:
        for _ in range(3):
            idx = np.r_[rng.choice(np.flatnonzero(spk == a), 10, replace=False),
                        rng.choice(np.flatnonzero(spk == b), 10, replace=False)]
            truth = np.r_[np.zeros(10), np.ones(10)]
            lab, _, _ = spherical_kmeans(_normalise(X[idx] - X[idx].mean(0)), 2, n_init=5)
            errs.append(min(np.mean(lab != truth), np.mean(lab == truth)))
    return float(np.mean(errs))


def _evaluate(utts: Path, seed: int, ks: tuple[int, ...] = (0, 1, 2, 4, 8, 16)) -> None:
    """Nested leave-one-corpus-out: for each held-out corpus, choose k on the other two (fit on one,
    score the other, both ways), then fit on both and score the held-out corpus."""
    from itertools import combinations

    from callemo.prep.diarize import _normalise
    from callemo.prep.speaker_models import fit_nuisance

    d = np.load(utts)
    E, spk, cor = d["emb"], d["speaker"], d["corpus"]
    gender = {}
    for corpus in sorted(set(cor)):
        from callemo.simulate.calls import corpus_manifest

        m = corpus_manifest(corpus, SHARED / corpus)
        gender.update({f"{corpus}:{s}": g for s, g in m.groupby("speaker")["gender"].first().items()})
    rng = np.random.default_rng(seed)

    def err(train: np.ndarray, test: np.ndarray, k: int) -> float:
        X = E
        if k:
            V = fit_nuisance(E[train], spk[train], k)
            X = _normalise(E - (E @ V.T) @ V)
        pairs = [(a, b) for a, b in combinations(sorted(set(spk[test])), 2) if gender[a] == gender[b]]
        return _pair_error(X, spk, pairs, rng)

    corpora = sorted(set(cor))
    for held in corpora:
        inner = [c for c in corpora if c != held]
        score = {k: np.mean([err(cor == a, cor == b, k) for a, b in (inner, inner[::-1])]) for k in ks}
        best = min(score, key=score.get)
        inner_err = {k: round(float(v), 3) for k, v in score.items()}
        print(f"{held}: inner errors {inner_err} -> k={best}; held-out "
              f"error raw {err(cor != held, cor == held, 0):.3f}, projected {err(cor != held, cor == held, best):.3f}")


if __name__ == "__main__":
    main()
