"""Diarization pieces on controlled embeddings, and the diarizer on a generated two-voice call."""

import numpy as np
import pytest

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
    lab, _ = two_party_partition(X, w)
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


def _two_voice_call(seed: int = 0, f0=(100.0, 190.0), tract=(0.95, 1.15), n_turns: int = 12):
    """Two generated voices (F0 and vocal-tract scale per voice) taking turns, through the telephone
    line: ``(audio at 8 kHz, 8000, truth [(start, end, voice)])``."""
    from callemo.io import telephone
    from helpers.voices import speechlike

    sr = 16000
    rng = np.random.default_rng(seed)
    x = np.zeros(int(4 * n_turns * sr), np.float32)
    truth, t = [], 0.5
    for k in range(n_turns):
        spk = k % 2
        d = float(rng.uniform(1.8, 2.8))
        v = speechlike(d, sr, f0=f0[spk], tract=tract[spk], seed=seed * 100 + k)
        x[int(t * sr) : int(t * sr) + len(v)] += v
        truth.append((t, t + d, spk))
        t += d + float(rng.uniform(0.3, 1.0))
    y, sr8 = telephone(x[: int((t + 0.5) * sr)], sr, snr_db=25, rng=rng)
    return y, sr8, truth


def _wrong_share(turns, truth) -> float:
    """Share of the truth's time given to the wrong speaker, after mapping found speakers to voices
    by majority (two found speakers on one voice count as a failure: share 1.0)."""
    votes = np.zeros((max(c for _, _, c in turns) + 1, 2))
    for a, b, c in turns:
        for s, e, spk in truth:
            votes[c, spk] += max(0.0, min(b, e) - max(a, s))
    mapping = votes.argmax(axis=1)
    if len(set(mapping.tolist())) < 2:
        return 1.0
    wrong = total = 0.0
    for a, b, c in turns:
        for s, e, spk in truth:
            ov = max(0.0, min(b, e) - max(a, s))
            total += ov
            wrong += ov * (mapping[c] != spk)
    return wrong / total


@pytest.mark.parametrize(
    ("embedding", "speaker_model"), [("auto", "gmm"), ("auto", None), ("mfcc", None), ("mfcc", "gmm")]
)
def test_diarize_generated_two_voice_call(embedding, speaker_model):
    """Each representation (resemblyzer or the MFCC fallback, with or without the per-call speaker
    models) separates two generated voices, and is confident about it."""
    from callemo.prep.diarize import diarize_regions

    y, sr8, truth = _two_voice_call()
    res = diarize_regions(y, sr8, [(s, e) for s, e, _ in truth], embedding=embedding, speaker_model=speaker_model)
    assert res.n_speakers == 2
    assert _wrong_share(res.turns, truth) < 0.1
    assert res.confidence > 0.5


def test_mfcc_fallback_embeddings_follow_the_voice():
    """The MFCC fallback's window embeddings: windows of one voice are closer to each other than to
    the other voice's (what clustering needs), and they are unit-norm, one per window."""
    from callemo.prep.diarize import window_embeddings

    y, sr8, truth = _two_voice_call(seed=1)
    W = window_embeddings(y, [(s, e) for s, e, _ in truth], sr=sr8, embedding="mfcc")
    assert W.emb.shape == (len(W.bounds), 32)
    np.testing.assert_allclose(np.linalg.norm(W.emb, axis=1), 1.0, atol=1e-5)
    voice = np.array([truth[r][2] for r in W.owner])
    sim = W.emb @ W.emb.T
    same = sim[voice[:, None] == voice[None, :]].mean()
    other = sim[voice[:, None] != voice[None, :]].mean()
    assert same > other + 0.3
    assert W.frames.shape[1] == 32 and W.spans.max() <= len(W.frames)


def test_embedding_choice_is_checked():
    from callemo.prep.diarize import diarize_regions

    with pytest.raises(ValueError, match="embedding"):
        diarize_regions(np.zeros(8000, np.float32), 8000, [(0.0, 1.0)], embedding="xvector")
    with pytest.raises(ValueError, match="speaker_model"):
        diarize_regions(np.zeros(8000, np.float32), 8000, [(0.0, 1.0)], speaker_model="plda")


def test_call_gmm_speaker_models_tell_close_voices_apart():
    """Two voices only 8 % apart in F0 and vocal tract: MAP-adapted models of each voice (from half
    of its frames) give the other half of its frames the higher likelihood, window by window."""
    from callemo.prep.diarize import window_embeddings
    from callemo.prep.speaker_models import CallGMM, window_means

    y, sr8, truth = _two_voice_call(seed=2, f0=(120.0, 130.0), tract=(1.0, 1.08), n_turns=16)
    W = window_embeddings(y, [(s, e) for s, e, _ in truth], sr=sr8, embedding="mfcc")
    voice = np.array([truth[r][2] for r in W.owner])
    half = np.array([r < len(truth) // 2 for r in W.owner])  # first half of the call trains
    gmm = CallGMM(16).fit(W.frames)
    frame_of = np.zeros(len(W.frames), int) - 1
    for i, (a, b) in enumerate(W.spans):
        frame_of[a:b] = i
    models = [gmm.adapt(W.frames[(frame_of >= 0) & (voice[frame_of] == v) & half[frame_of]]) for v in (0, 1)]
    ll = np.stack([window_means(gmm.frame_loglik(W.frames, m), W.spans) for m in models], axis=1)
    test = ~half
    acc = np.mean(ll[test].argmax(1) == voice[test])
    assert acc > 0.9
    sv = [gmm.supervector(m) for m in models]
    assert sv[0].shape == (16 * 32,) and np.linalg.norm(sv[0] - sv[1]) > 0


def test_separation_confidence():
    from callemo.prep.diarize import separation_confidence

    lab = np.array([0, 1, 0, 1])
    w = np.ones(4)
    clear = np.array([[0.9, 0.5], [0.5, 0.9], [0.8, 0.6], [0.4, 0.8]])
    assert separation_confidence(clear, lab, w) == 1.0
    murky = np.array([[0.71, 0.70], [0.70, 0.72], [0.69, 0.70], [0.70, 0.70]])  # one window on the wrong side
    assert 0.0 <= separation_confidence(murky, lab, w) < 0.1
    assert np.isnan(separation_confidence(clear[:, :1], np.zeros(4, int), w))


def test_single_voice_split_in_two_has_low_confidence():
    """One generated voice forced into two speakers: the split is arbitrary and the confidence says
    so (well below the two-voice call's)."""
    from callemo.prep.diarize import diarize_regions

    y, sr8, truth = _two_voice_call(seed=3, f0=(150.0, 150.0), tract=(1.0, 1.0))
    one = diarize_regions(y, sr8, [(s, e) for s, e, _ in truth])
    y2, _, truth2 = _two_voice_call(seed=3)
    two = diarize_regions(y2, sr8, [(s, e) for s, e, _ in truth2])
    assert one.confidence < two.confidence - 0.3


def test_shipped_nuisance_directions_are_orthonormal_and_remove_within_speaker_spread():
    """The shipped directions (4 x 256, orthonormal) and fit_nuisance: on embeddings where each
    speaker's utterances spread along shared 'emotion' directions, the fitted directions span
    exactly those, and projecting them out pulls a speaker's utterances together."""
    from callemo.prep.diarize import _normalise, nuisance_directions
    from callemo.prep.speaker_models import fit_nuisance

    V = nuisance_directions()
    assert V.shape == (4, 256)
    np.testing.assert_allclose(V @ V.T, np.eye(4), atol=1e-4)

    rng = np.random.default_rng(0)
    d, n_spk, n_utt = 64, 12, 20
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    emotion = Q[:, :2].T  # two shared directions of within-speaker variation
    voices = rng.standard_normal((n_spk, d)) @ (Q[:, 2:] @ Q[:, 2:].T)  # voices differ elsewhere
    X = np.concatenate([v + 3.0 * rng.standard_normal((n_utt, 2)) @ emotion + 0.1 * rng.standard_normal((n_utt, d))
                        for v in voices])
    spk = np.repeat(np.arange(n_spk), n_utt)
    W = fit_nuisance(X, spk, 2)
    # the fitted subspace is the emotion subspace
    np.testing.assert_allclose(np.linalg.svd(W @ emotion.T, compute_uv=False), 1.0, atol=0.02)
    P = _normalise(X - (X @ W.T) @ W)
    Xn = _normalise(X)

    def within_over_between(Z):
        means = np.stack([Z[spk == s].mean(0) for s in range(n_spk)])
        within = np.mean([np.sum((Z[spk == s] - means[s]) ** 2, 1).mean() for s in range(n_spk)])
        return within / np.sum((means - means.mean(0)) ** 2, 1).mean()

    assert within_over_between(P) < 0.2 * within_over_between(Xn)


def test_speaker_models_help_on_simulated_calls(tmp_path):
    """Whole mono preparation on three simulated calls of generated voices with emotions (true
    speech regions given): the default diarizer (NAP + per-call GMM speaker models) beats the
    d-vectors alone on average (measured: mean DER 0.04 vs 0.18; one call 0.49 -> 0.02)."""
    import warnings

    import pandas as pd
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    from callemo.prep import prepare_call
    from callemo.simulate.calls import simulate_calls
    from helpers.callsynth import synth_manifest

    m = synth_manifest(tmp_path / "src", n_per_emotion=3)
    ders: dict[str, list[float]] = {"default": [], "dvectors": []}
    for seed in (5, 6, 7):
        call = simulate_calls(m, tmp_path / f"c{seed}", n_calls=1, seed=seed, turns=(10, 10), hold_prob=0.5,
                              overlap_prob=0.0).iloc[0]
        truth = pd.read_csv(call.csv)
        ref = Annotation()
        for i, r in enumerate(truth.itertuples()):
            ref[Segment(r.start, r.end), i] = r.role
        for name, kw in (("default", {}), ("dvectors", {"speaker_model": None, "nap": False})):
            pc = prepare_call(call.mono, regions=list(zip(truth.start, truth.end)), diarize_kw=kw)
            assert 0.0 <= pc.diarization_confidence <= 1.0  # exposed on the prepared (mono) call
            hyp = Annotation()
            for i, (idx, r) in enumerate(pc.turns.iterrows()):
                hyp[Segment(idx[1], idx[2]), i] = r.speaker
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ders[name].append(float(DiarizationErrorRate(collar=0.25)(ref, hyp)))
    assert np.mean(ders["default"]) < 0.1
    assert np.mean(ders["default"]) < np.mean(ders["dvectors"]) - 0.05
