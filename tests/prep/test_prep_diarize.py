"""Diarization pieces on controlled embeddings, and the diarizer on a generated two-voice call."""

import numpy as np

from callemo.prep.diarize import (
    _absorb_short,
    _viterbi,
    alternation,
    choose_n_speakers,
    spherical_kmeans,
    two_party_partition,
)


def _call_embeddings(seed=0, n_turns=24, emotion_shift=1.6, mix=0.7):
    """Two voices taking turns; the client's middle third is 'angry': a big shift that makes the
    tightest 2-way split 'angry client' vs 'everybody else'."""
    rng = np.random.default_rng(seed)
    d = 32
    agent, client, anger = (rng.standard_normal(d) for _ in range(3))
    agent /= np.linalg.norm(agent)
    client = mix * agent + (1 - mix) * client / np.linalg.norm(client)
    client /= np.linalg.norm(client)
    anger /= np.linalg.norm(anger)
    X, who = [], []
    for t in range(n_turns):
        spk = t % 2
        v = (agent if spk == 0 else client).copy()
        if spk == 1 and n_turns / 3 <= t < 2 * n_turns / 3:
            v = v + emotion_shift * anger
        X.append(v / np.linalg.norm(v) + 0.05 * rng.standard_normal(d))
        who.append(spk)
    return np.array(X), np.array(who)


def test_two_party_partition_prefers_speakers_over_emotion():
    X, who = _call_embeddings()
    w = np.ones(len(X))
    km, _, _ = spherical_kmeans(X, 2, w)
    agree_km = max(np.mean(km == who), np.mean(km != who))
    lab, C = two_party_partition(X, w)
    agree = max(np.mean(lab == who), np.mean(lab != who))
    assert agree == 1.0
    assert agree_km < 1.0  # plain 2-means splits off the angry phase
    assert alternation(lab) > 0.9


def test_choose_n_speakers():
    X, who = _call_embeddings(emotion_shift=0.3, mix=0.4)
    assert choose_n_speakers(X, np.ones(len(X))) == 2
    one = X[who == 0]
    assert choose_n_speakers(one, np.ones(len(one))) == 1


def test_viterbi_and_absorb():
    scores = np.array([[1, 0], [1, 0], [0, 0.6], [1, 0], [0, 1], [0, 1]], float)
    cost = np.full(6, 1.0)
    path = _viterbi(scores, cost)
    assert list(path) == [0, 0, 0, 0, 1, 1]  # the one-step blip is not worth two switches
    turns = _absorb_short([[0.0, 2.0, 0], [2.0, 2.3, 1], [2.3, 4.0, 0], [5.0, 5.2, 1]], 0.6)
    assert turns == [[0.0, 4.0, 0], [5.0, 5.2, 1]]  # an isolated short turn keeps its speaker


def test_diarize_generated_two_voice_call():
    """Two generated voices (different F0 and vocal tract) alternating, through the telephone line."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _speechlike import speechlike

    from callemo.io import telephone
    from callemo.prep.diarize import diarize_regions

    sr = 16000
    rng = np.random.default_rng(0)
    x = np.zeros(int(40 * sr), np.float32)
    truth, t = [], 0.5
    for k in range(12):
        spk = k % 2
        d = float(rng.uniform(1.8, 2.8))
        v = speechlike(d, sr, f0=(100.0, 190.0)[spk], tract=(0.95, 1.15)[spk], seed=k)
        x[int(t * sr) : int(t * sr) + len(v)] += v
        truth.append((t, t + d, spk))
        t += d + float(rng.uniform(0.3, 1.0))
    y, sr8 = telephone(x[: int((t + 0.5) * sr)], sr, snr_db=25, rng=rng)
    res = diarize_regions(y, sr8, [(s, e) for s, e, _ in truth])
    assert res.n_speakers == 2
    # map turn speakers to truth by majority, then measure the wrongly attributed time
    wrong = total = 0.0
    votes = np.zeros((2, 2))
    for a, b, c in res.turns:
        for s, e, spk in truth:
            votes[c, spk] += max(0.0, min(b, e) - max(a, s))
    mapping = votes.argmax(axis=1)
    assert mapping[0] != mapping[1]
    for a, b, c in res.turns:
        for s, e, spk in truth:
            ov = max(0.0, min(b, e) - max(a, s))
            total += ov
            wrong += ov * (mapping[c] != spk)
    assert wrong / total < 0.1
