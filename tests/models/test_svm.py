"""The SVM / ensemble models: training on generated voices, save/load round trip, the shipped
default model, and a speaker-independent integration run on a RAVDESS subset."""

from __future__ import annotations

import numpy as np
import pytest

from callemo.models.base import ModelError, build_model, default_model_dir, load_model
from helpers.voices import synth_voice

LABELS = ["angry", "happy", "neutral", "sad"]
#: (f0, level, vibrato) per class: enough acoustic structure for a classifier to find
STYLE = {
    "angry": (210.0, 0.8, 0.08),
    "happy": (240.0, 0.5, 0.15),
    "neutral": (130.0, 0.2, 0.02),
    "sad": (110.0, 0.1, 0.01),
}


def toy_data(n_speakers=4, per_class=4, sr=8000, seed=0):
    signals, y, spk = [], [], []
    rng = np.random.default_rng(seed)
    for s in range(n_speakers):
        shift = rng.uniform(0.85, 1.2)  # speakers differ in pitch
        for lab, (f0, level, vib) in STYLE.items():
            for i in range(per_class):
                signals.append(synth_voice(1.2, sr=sr, f0=f0 * shift * rng.uniform(0.95, 1.05), vibrato=vib,
                                           level=level, seed=1000 * s + 10 * i + LABELS.index(lab)))
                y.append(lab)
                spk.append(f"s{s}")
    return signals, y, spk


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def toy():
    return toy_data()


@pytest.mark.parametrize("norm", ["speaker", "global"])
def test_svm_learns_toy_classes(toy, norm):
    sig, y, spk = toy
    cfg = {"type": "svm", "sample_rate": 8000, "features": ["prosody"], "normalisation": norm, "classifier": {"C": 1.0}}
    tr = [i for i, s in enumerate(spk) if s != "s1"]
    te = [i for i, s in enumerate(spk) if s == "s1"]
    m = build_model(cfg).fit([sig[i] for i in tr], [y[i] for i in tr], [spk[i] for i in tr])
    assert m.labels == LABELS
    p = m.predict_proba([sig[i] for i in te], [spk[i] for i in te])
    assert p.shape == (len(te), 4)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    acc = np.mean([m.labels[k] == y[i] for k, i in zip(p.argmax(axis=1), te)])
    assert acc >= 0.75


def test_save_load_round_trip_gives_identical_predictions(toy, tmp_path):
    sig, y, spk = toy
    cfg = {"type": "svm", "sample_rate": 8000, "features": ["prosody"], "normalisation": "speaker",
           "selection": {"k": 50}, "tune": {"C": [0.5, 2.0], "folds": 2}, "min_duration": 1.0}
    m = build_model(cfg).fit(sig, y, spk)
    p1 = m.predict_proba(sig[:10], spk[:10])
    d = m.save(tmp_path / "model", license={"use": "test"})
    m2 = load_model(d)
    p2 = m2.predict_proba(sig[:10], spk[:10])
    np.testing.assert_array_equal(p1, p2)
    assert m2.labels == m.labels and m2.sample_rate == 8000 and m2.min_duration == 1.0
    assert m2.card["features"][0]["name"] == "prosody" and m2.card["normalisation"] == "speaker"
    assert m2.best_params_ and m2.best_params_["C"] in (0.5, 2.0)


@pytest.mark.parametrize("kind", ["svm", "ensemble"])
def test_saved_weights_are_pinned_to_the_scikit_learn_release(toy, tmp_path, kind):
    import sklearn
    import yaml

    sig, y, spk = toy
    member = {"features": ["prosody"], "normalisation": "speaker"}
    cfg = {"type": "svm", "sample_rate": 8000, **member} if kind == "svm" else \
        {"type": "ensemble", "sample_rate": 8000, "members": [member, member]}
    d = build_model(cfg).fit(sig, y, spk).save(tmp_path / kind)
    card = yaml.safe_load((d / "model.yaml").read_text())
    assert card["sklearn_version"] == sklearn.__version__
    card["sklearn_version"] = "0.24.2"
    (d / "model.yaml").write_text(yaml.safe_dump(card))
    with pytest.raises(ModelError, match=r"saved with scikit-learn 0\.24\.2.*retrain"):
        load_model(d)


def test_ensemble_round_trip(toy, tmp_path):
    sig, y, spk = toy
    member = {"features": ["prosody"], "normalisation": "speaker"}
    logreg = dict(member, classifier={"type": "logreg", "C": 0.1})
    cfg = {"type": "ensemble", "sample_rate": 8000, "members": [member, logreg]}
    m = build_model(cfg).fit(sig, y, spk)
    p1 = m.predict_proba(sig[:6], spk[:6])
    np.testing.assert_allclose(p1.sum(axis=1), 1, atol=1e-5)
    m2 = load_model(m.save(tmp_path / "ens"))
    np.testing.assert_array_equal(p1, m2.predict_proba(sig[:6], spk[:6]))


def test_errors_are_clear(toy, tmp_path):
    sig = toy[0]
    with pytest.raises(ModelError, match="not trained"):
        build_model({"type": "svm", "sample_rate": 8000}).predict_proba(sig[:2])
    with pytest.raises(ModelError, match="two classes"):
        build_model({"type": "svm", "sample_rate": 8000}).fit(sig[:3], ["sad"] * 3)
    with pytest.raises(ModelError, match="not a model directory"):
        load_model(tmp_path)


def test_the_shipped_default_model_loads_and_predicts():
    if not (default_model_dir() / "model.yaml").exists():
        pytest.skip("no default model shipped yet")
    m = load_model(None)
    assert m.sample_rate == 8000 and set(m.labels) == set(LABELS)
    assert m.min_duration >= 0.5
    card = m.card
    assert "non-commercial" in str(card["license"]).lower() and card["metrics"]
    sig = [synth_voice(2.0, sr=8000, seed=i, f0=120 + 20 * i) for i in range(5)]
    for speakers in (["a", "a", "b", "b", "b"], ["a"] * 5, None):
        p = m.predict_proba(sig, speakers)
        assert p.shape == (5, 4) and np.all(np.isfinite(p)) and np.all(p >= 0)
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    one = m.predict_proba(sig[:1], ["lonely"])  # a speaker with a single segment still works
    assert one.shape == (1, 4)


@pytest.mark.corpus
def test_speaker_independent_ravdess_subset_is_clearly_above_chance(ravdess_dir):
    from callemo.corpora import build_manifest
    from callemo.evaluate.protocol import crossval
    from callemo.labels.schemes import apply_setting
    from callemo.train.config import load_config

    df = apply_setting(build_manifest("ravdess", ravdess_dir), "4class")
    df = df[df["speaker"].isin(sorted(df["speaker"].unique())[:6])].reset_index(drop=True)
    assert df["speaker"].nunique() == 6 and len(df) == 6 * 28
    cfg = load_config("svm_speaker")
    r = crossval(df, cfg, group="speaker", k=3, progress=False, n_boot=200)
    assert r["protocol"]["k"] == 3
    for f in r["folds"]:
        assert len(f["test_groups"]) == 2
    assert r["ua"] > 0.5  # chance is 0.25
    assert r["ua"] > r["baselines"]["majority"]["ua"] + 0.2


def test_few_segment_augmentation_and_speaker_weights(toy):
    sig, y, spk = toy
    cfg = {
        "type": "svm", "sample_rate": 8000, "normalisation": "speaker", "few_segments": [1], "sample_weight": "speaker",
    }
    m = build_model(cfg).fit(sig, y, spk)
    p = m.predict_proba(sig[:4], ["x"] * 4)
    assert p.shape == (4, 4) and np.all(np.isfinite(p))
    # the classifier saw the original and the 1-segment copies
    assert m.clf.calibrated_classifiers_[0].estimator.shape_fit_[0] == 2 * len(sig)


def test_tiny_classes_fall_back_to_softmax_probabilities(toy, tmp_path):
    sig, y, spk = toy
    keep = [i for i, lab in enumerate(y) if lab != "sad"] + [y.index("sad")]  # one "sad" item only
    m = build_model({"type": "svm", "sample_rate": 8000}).fit(
        [sig[i] for i in keep], [y[i] for i in keep], [spk[i] for i in keep]
    )
    p = m.predict_proba(sig[:3], spk[:3])
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(p, load_model(m.save(tmp_path / "tiny")).predict_proba(sig[:3], spk[:3]))


def test_noise_copies_for_multi_condition_training():
    from callemo.models.svm import noise_copies

    sig = [(0.3 * np.sin(np.arange(8000) * 0.2 + k)).astype(np.float32) for k in range(3)]
    y, spk = ["angry", "sad", "happy"], ["a", "a", "b"]
    s2, y2, spk2 = noise_copies(sig, y, spk, {"copies": 2, "snr": [10, 10], "seed": 0}, 8000)
    assert len(s2) == 9 and y2 == y * 3 and spk2 == spk * 3
    for clean, noisy in zip(sig, s2[3:6]):
        snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
        assert 8.0 < snr < 11.0  # 10 dB noise plus the mu-law re-encoding
    again = noise_copies(sig, y, spk, {"copies": 2, "snr": [10, 10], "seed": 0}, 8000)[0]
    assert all(np.array_equal(a, b) for a, b in zip(s2, again))  # reproducible
    assert noise_copies(sig, y, spk, None, 8000)[0] is sig  # off


def test_mp3_copies_for_archive_conditions():
    from callemo.models.svm import noise_copies

    rng = np.random.default_rng(1)
    t = np.arange(16000) / 8000
    # a voiced-like signal (harmonics of 150 Hz) with pauses
    sig = [(sum(0.1 / h * np.sin(2 * np.pi * 150 * h * t + rng.uniform(0, 6)) for h in range(1, 24))
            * (np.sin(2 * np.pi * 2 * t) > -0.3)).astype(np.float32) for _ in range(2)]
    y, spk = ["angry", "sad"], ["a", "b"]
    spec = {"copies": 1, "snr": [30, 30], "seed": 0}
    one = noise_copies(sig, y, spk, spec, 8000)[0]
    both, y3, spk3 = noise_copies(sig, y, spk, {**spec, "codecs": ["g711", "mp3"]}, 8000)
    assert len(both) == 6 and y3 == y * 3 and spk3 == spk * 3
    assert all(np.array_equal(a, b) for a, b in zip(one, both[:4]))  # the G.711 copies are unchanged
    for clean, g711, mp3 in zip(sig, both[2:4], both[4:]):
        assert len(mp3) == len(clean)
        lag = int(np.argmax(np.correlate(mp3, clean, "full"))) - (len(clean) - 1)
        assert lag == 0  # the codec's delay is removed
        # the low-bitrate codec's distortion comes on top of the line's (same 30 dB noise)
        assert _snr(clean, mp3) < _snr(clean, g711) - 3.0
    with pytest.raises(ModelError, match="unknown codec"):
        noise_copies(sig, y, spk, {**spec, "codecs": ["gsm"]}, 8000)


def test_mp3_copies_are_encoded_once_and_then_read_from_the_cache(tmp_path, monkeypatch):
    """A retrain on cached features must not pay the MP3 encode again (15 ms a signal)."""
    import importlib

    from callemo.models.svm import noise_copies

    tel = importlib.import_module("callemo.io.telephone")  # the package re-exports a function of that name

    sig = [(0.2 * np.sin(np.arange(12000) * (0.05 + 0.01 * k))).astype(np.float32) for k in range(3)]
    y, spk = ["angry", "sad", "happy"], ["a", "a", "b"]
    spec = {"copies": 1, "snr": [20, 20], "seed": 0, "codecs": ["g711", "mp3"]}
    first = noise_copies(sig, y, spk, spec, 8000, cache=tmp_path)[0]
    plain = noise_copies(sig, y, spk, spec, 8000, cache=False)[0]
    assert all(np.array_equal(a, b) for a, b in zip(first, plain))  # the cache changes no sample
    assert len(list((tmp_path / "features").rglob("*.npy"))) == 3  # one encoded file per MP3 copy

    def no_encoding(*a, **k):
        raise AssertionError("encoded again")

    monkeypatch.setattr(tel, "mp3_encode", no_encoding)
    again = noise_copies(sig, y, spk, spec, 8000, cache=tmp_path)[0]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    with pytest.raises(AssertionError, match="encoded again"):  # without a cache it encodes
        noise_copies(sig, y, spk, spec, 8000, cache=False)


def _snr(clean, degraded):
    return 10 * np.log10(np.mean(clean**2) / np.mean((degraded - clean) ** 2))



# -- calibration and the unknown threshold ---------------------------------------------------------
def _overconfident(n=4000, seed=0):
    """Probabilities of a 4-class predictor that is right 60 % of the time but says 0.9 or more."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    right = rng.random(n) < 0.6
    pred = np.where(right, y, (y + rng.integers(1, 4, n)) % 4)
    top = rng.uniform(0.9, 0.99, n)
    p = np.tile(((1 - top) / 3)[:, None], (1, 4))
    p[np.arange(n), pred] = top
    return p, [LABELS[i] for i in y]


@pytest.mark.parametrize("method", ["temperature", "vector"])
def test_calibrator_fitted_on_held_out_predictions_lowers_ece(method):
    from callemo.evaluate.metrics import expected_calibration_error
    from callemo.models.calibration import Calibrator

    p_fit, y_fit = _overconfident(seed=0)
    p_new, y_new = _overconfident(seed=1)
    cal = Calibrator(method, LABELS).fit(p_fit, y_fit)
    q = cal.transform(p_new)
    np.testing.assert_allclose(q.sum(axis=1), 1, atol=1e-5)
    before, after = expected_calibration_error(y_new, p_new, LABELS), expected_calibration_error(y_new, q, LABELS)
    assert before > 0.3 and after < 0.05
    assert np.array_equal(q.argmax(axis=1), p_new.argmax(axis=1)) or method == "vector"
    if method == "temperature":
        assert cal.temperature > 1.5  # over-confidence is softened
    again = Calibrator.from_dict(cal.to_dict())  # the model card round trip
    np.testing.assert_allclose(again.transform(p_new), q, atol=1e-5)
    with pytest.raises(ValueError, match="not among"):
        Calibrator(method, LABELS).fit(p_fit, ["calm"] * len(p_fit))


def test_unknown_below_threshold_round_trips_through_the_model_card(toy, tmp_path):
    from callemo.models.calibration import Calibrator, apply_threshold

    sig, y, spk = toy
    m = build_model({"type": "svm", "sample_rate": 8000, "normalisation": "speaker"}).fit(sig, y, spk)
    raw = m.predict_proba(sig, spk)
    cal = Calibrator("temperature", m.labels)
    cal.scale[:] = 0.5  # temperature 2: softer probabilities, same ranking
    m.set_calibration(cal)
    p = m.predict_proba(sig, spk)
    assert np.array_equal(p.argmax(axis=1), raw.argmax(axis=1)) and p.max(axis=1).mean() < raw.max(axis=1).mean()
    thr = float(np.median(p.max(axis=1)))
    m.set_calibration(cal, unknown_below=thr)
    pred = m.predict(sig, spk)["emotion"].tolist()
    low = p.max(axis=1) < thr
    assert low.any() and (~low).any()
    assert all((v == "unknown") == lo for v, lo in zip(pred, low))
    assert [v for v, lo in zip(pred, low) if not lo] == [m.labels[j] for j in p.argmax(axis=1)[~low]]
    d = m.save(tmp_path / "cal")
    m2 = load_model(d)
    assert m2.unknown_below == pytest.approx(thr) and m2.card["calibration"]["method"] == "temperature"
    np.testing.assert_allclose(m2.predict_proba(sig, spk), p, atol=1e-6)
    assert m2.predict(sig, spk)["emotion"].tolist() == pred
    assert apply_threshold(p, m.labels, 0.0) == [m.labels[j] for j in p.argmax(axis=1)]  # 0 = always a label
    with pytest.raises(ModelError, match="unknown_below"):
        m.set_calibration(None, unknown_below=1.5)
    with pytest.raises(ModelError, match="differ"):
        m.set_calibration(Calibrator("temperature", ["a", "b", "c", "d"]))
    card = (d / "model.yaml").read_text().replace("method: temperature", "method: isotonic")
    (d / "model.yaml").write_text(card)
    with pytest.raises(ModelError, match="calibration"):
        load_model(d)


def test_call_like_speaker_statistics_in_training(toy):
    sig, y, spk = toy  # 4 speakers x 4 classes x 4 items
    cfg = {"type": "svm", "sample_rate": 8000, "normalisation": "speaker",
           "call_stats": {"draws": 3, "size": [4, 8], "neutral": 0.6}}
    m = build_model(cfg).fit(sig, y, spk)
    n_emotional = sum(v != "neutral" for v in y)
    X = m.features(sig)
    yy = np.asarray(y, dtype=object)
    Z, y2, g2 = m._call_like(X, yy, spk)
    assert m.clf.calibrated_classifiers_[0].estimator.shape_fit_[0] == len(Z) == len(y2)
    # every emotional item 3 times; neutral rows in about the training set's proportion (1 in 4)
    assert (y2 != "neutral").sum() == 3 * n_emotional
    assert 0.5 * 3 * (len(y) - n_emotional) <= (y2 == "neutral").sum() <= 1.5 * 3 * (len(y) - n_emotional)
    assert set(g2) == set(spk)
    # a row standardised with a neutral-heavy group differs from the whole-speaker row
    full = m.normaliser.transform(X, spk)
    assert not np.allclose(Z[: len(full)].mean(axis=0), full.mean(axis=0), atol=1e-3)
    with pytest.raises(ModelError, match="call_stats"):
        build_model(dict(cfg, call_stats={"neutral": 1.0})).fit(sig, y, spk)


@pytest.mark.corpus
@pytest.mark.slow
def test_calibration_on_a_held_out_corpus_lowers_ece_on_another_speakers(savee_dir, ravdess_dir):
    """A small real model trained on SAVEE is over-confident on RAVDESS; a temperature fitted on
    four RAVDESS speakers makes the confidence honest on four other RAVDESS speakers."""
    from callemo.corpora import build_manifest
    from callemo.evaluate.metrics import expected_calibration_error
    from callemo.labels.schemes import apply_setting
    from callemo.models.calibration import Calibrator
    from callemo.train.manifest import load_signals

    sav = apply_setting(build_manifest("savee", savee_dir), "4class").reset_index(drop=True)
    rav = apply_setting(build_manifest("ravdess", ravdess_dir), "4class")
    rav = rav[rav["speaker"].isin(sorted(rav["speaker"].unique())[:8])].reset_index(drop=True)
    cfg = {"type": "svm", "sample_rate": 8000, "features": ["prosody"], "normalisation": "speaker"}
    m = build_model(cfg).fit(load_signals(sav, 8000, telephone=True, snr_range=None), sav["emotion"], sav["speaker"])
    sig = load_signals(rav, 8000, telephone=True, snr_range=None)
    p = m.predict_proba(sig, list(rav["speaker"]))
    first = rav["speaker"].isin(sorted(rav["speaker"].unique())[:4]).to_numpy()
    y = rav["emotion"].astype(str).to_numpy()
    cal = Calibrator("temperature", m.labels).fit(p[first], y[first])
    before = expected_calibration_error(y[~first], p[~first], m.labels)
    after = expected_calibration_error(y[~first], cal.transform(p[~first]), m.labels)
    assert cal.temperature > 1.0  # the cross-corpus model was over-confident
    assert after < before - 0.05 and after < 0.15


def test_call_groups_give_each_emotional_item_once_with_four_neutral_turns_of_its_speaker():
    from callemo.train.calibration import call_groups

    y = (["neutral"] * 5 + ["angry", "sad", "happy"] * 3) * 2
    spk = ["a"] * 14 + ["b"] * 14
    rows, g = call_groups(y, spk, seed=3)
    yy, ss = np.asarray(y)[rows], np.asarray(spk)[rows]
    emotional = rows[yy != "neutral"]
    assert sorted(emotional.tolist()) == [i for i, v in enumerate(y) if v != "neutral"]  # each exactly once
    for gid in dict.fromkeys(g.tolist()):
        m = g == gid
        assert len(set(ss[m])) == 1  # one speaker per group
        assert (yy[m] == "neutral").sum() == 4 and 1 <= (yy[m] != "neutral").sum() <= 2
    assert len(set(g.tolist())) == 2 * 5  # 9 emotional items per speaker in pairs
