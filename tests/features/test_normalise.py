"""Global and per-speaker standardisation semantics."""

from __future__ import annotations

import numpy as np
import pytest

from callemo.features import SpeakerStandardizer, standardize_by_speaker


def _data(seed=0):
    rng = np.random.default_rng(seed)
    spk = np.repeat(["a", "b", "c"], 40)
    offset = {"a": 0.0, "b": 5.0, "c": -3.0}
    scale = {"a": 1.0, "b": 3.0, "c": 0.5}
    X = np.stack([rng.standard_normal(2) * scale[s] + offset[s] for s in spk])
    return X, spk


def test_per_speaker_uses_each_speakers_own_statistics():
    X, spk = _data()
    Z = standardize_by_speaker(X, spk)
    for s in "abc":
        np.testing.assert_allclose(Z[spk == s].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(Z[spk == s].std(axis=0), 1, atol=1e-4)


def test_speaker_mode_removes_speaker_offsets_at_test_time():
    X, spk = _data()
    n = SpeakerStandardizer("speaker", shrink=0.0).fit(X, spk)
    # an unseen test speaker with a large offset: its own segments give the statistics
    rng = np.random.default_rng(1)
    Xt = rng.standard_normal((30, 2)) * 2.0 + 40.0
    Zt = n.transform(Xt, ["new"] * 30)
    assert np.all(np.abs(Zt.mean(axis=0)) < 0.2)
    # global mode would leave the offset in place
    g = SpeakerStandardizer("global").fit(X, spk)
    assert np.all(g.transform(Xt).mean(axis=0) > 5)


def test_transform_depends_only_on_the_rows_of_each_speaker():
    X, spk = _data()
    n = SpeakerStandardizer("speaker").fit(X, spk)
    both = n.transform(X, spk)
    only_b = n.transform(X[spk == "b"], spk[spk == "b"])
    np.testing.assert_allclose(both[spk == "b"], only_b, rtol=1e-5, atol=1e-6)


def test_few_segments_shrink_toward_the_training_prior():
    X, spk = _data()
    n = SpeakerStandardizer("speaker", shrink=3.0).fit(X, spk)
    one = np.array([[10.0, 10.0]])
    z1 = n.transform(one, ["x"])  # one segment: mostly prior statistics, finite, not zeroed out
    assert np.all(np.isfinite(z1)) and np.all(z1 > 0)
    # with many segments the speaker's own statistics dominate
    rng = np.random.default_rng(3)
    many = rng.standard_normal((200, 2)) + 10.0
    zm = n.transform(many, ["y"] * 200)
    assert np.all(np.abs(zm.mean(axis=0)) < 0.3)
    # speakers=None: the batch is one speaker
    np.testing.assert_allclose(n.transform(many), zm, rtol=1e-5)


def test_global_and_none_modes():
    X, _spk = _data()
    g = SpeakerStandardizer("global").fit(X)
    Z = g.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(SpeakerStandardizer("none").fit(X).transform(X), X, rtol=1e-6)
    with pytest.raises(ValueError):
        SpeakerStandardizer("bogus")
    with pytest.raises(ValueError):
        g.transform(X[:, :1])


def test_class_balanced_training_statistics():
    rng = np.random.default_rng(0)
    # one speaker, 90 "low" items and 10 "high" items: the balanced mean sits halfway
    X = np.r_[rng.normal(0, 0.1, (90, 1)), rng.normal(10, 0.1, (10, 1))]
    y = ["low"] * 90 + ["high"] * 10
    spk = ["s"] * 100
    plain = SpeakerStandardizer("speaker", shrink=0.0)
    plain.fit(X, spk, y)
    bal = SpeakerStandardizer("speaker", shrink=0.0, balance_classes=True)
    bal.fit(X, spk, y)
    assert abs(plain.prior_mean_[0] - 1.0) < 0.1
    assert abs(bal.prior_mean_[0] - 5.0) < 0.1
    # fit_transform equals fit + transform when classes are not balanced
    np.testing.assert_allclose(plain.fit_transform(X, spk, y), plain.transform(X, spk), rtol=1e-5, atol=1e-5)


def test_a_standardizer_pickled_before_an_option_existed_loads_with_the_old_behaviour():
    import pickle

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    spk = np.repeat(["a", "b"], 20)
    old = SpeakerStandardizer("speaker").fit(X, spk)
    state = dict(old.__dict__)
    del state["robust"], state["balance_classes"], state["speaker_scale"]  # a model saved before these options
    revived = SpeakerStandardizer.__new__(SpeakerStandardizer)
    revived.__dict__.update(pickle.loads(pickle.dumps(state)))
    assert revived.robust is False and revived.balance_classes is False and revived.speaker_scale == 1.0
    np.testing.assert_array_equal(revived.transform(X, spk), old.transform(X, spk))


def test_location_only_keeps_a_quiet_speakers_spread():
    # an acted training speaker spreads over every class; a call's mostly neutral agent hardly
    # moves: its own scale would blow its small differences up to full-class distances
    X, spk = _data()
    rng = np.random.default_rng(2)
    calm = rng.standard_normal((30, 2)) * 0.1 + 7.0
    own = SpeakerStandardizer("speaker", shrink=0.0).fit(X, spk)
    loc = SpeakerStandardizer("speaker", shrink=0.0, speaker_scale=0.0).fit(X, spk)
    half = SpeakerStandardizer("speaker", shrink=0.0, speaker_scale=0.5).fit(X, spk)
    z_own, z_loc = own.transform(calm, ["agent"] * 30), loc.transform(calm, ["agent"] * 30)
    assert np.all(np.abs(z_own.mean(axis=0)) < 0.2) and np.all(np.abs(z_loc.mean(axis=0)) < 0.2)  # located
    assert np.all(z_own.std(axis=0) > 0.8)  # rescaled to the training speakers' spread
    assert np.all(z_loc.std(axis=0) < 0.2)  # kept small: the pooled training spread
    z_half = half.transform(calm, ["agent"] * 30).std(axis=0)
    assert np.all((z_half > 2 * z_loc.std(axis=0)) & (z_half < 0.5 * z_own.std(axis=0)))  # between
    with pytest.raises(ValueError, match="speaker_scale"):
        SpeakerStandardizer("speaker", speaker_scale=1.5)
    # the training rows of each speaker: located, and scaled alike
    Z = loc.fit_transform(X, spk)
    for s in "abc":
        assert np.all(np.abs(Z[spk == s].mean(axis=0)) < 0.2)
    assert Z[spk == "b"].std() > 3 * Z[spk == "c"].std()  # speaker b spreads 6x more than c
