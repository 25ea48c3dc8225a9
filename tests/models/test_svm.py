"""The SVM / ensemble models: training on generated voices, save/load round trip, the shipped
default model, and a speaker-independent integration run on a RAVDESS subset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from callemo.models.base import ModelError, build_model, default_model_dir, load_model
from conftest import synth_voice

LABELS = ["angry", "happy", "neutral", "sad"]
#: (f0, level, vibrato) per class: enough acoustic structure for a classifier to find
STYLE = {"angry": (210.0, 0.8, 0.08), "happy": (240.0, 0.5, 0.15), "neutral": (130.0, 0.2, 0.02), "sad": (110.0, 0.1, 0.01)}


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


def test_ensemble_round_trip(toy, tmp_path):
    sig, y, spk = toy
    member = {"features": ["prosody"], "normalisation": "speaker"}
    cfg = {"type": "ensemble", "sample_rate": 8000, "members": [member, dict(member, classifier={"type": "logreg", "C": 0.1})]}
    m = build_model(cfg).fit(sig, y, spk)
    p1 = m.predict_proba(sig[:6], spk[:6])
    np.testing.assert_allclose(p1.sum(axis=1), 1, atol=1e-5)
    m2 = load_model(m.save(tmp_path / "ens"))
    np.testing.assert_array_equal(p1, m2.predict_proba(sig[:6], spk[:6]))


def test_errors_are_clear(toy, tmp_path):
    sig, y, spk = toy
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
    from callemo.train.fit import load_config

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
    cfg = {"type": "svm", "sample_rate": 8000, "normalisation": "speaker", "few_segments": [1], "sample_weight": "speaker"}
    m = build_model(cfg).fit(sig, y, spk)
    p = m.predict_proba(sig[:4], ["x"] * 4)
    assert p.shape == (4, 4) and np.all(np.isfinite(p))
    # the classifier saw the original and the 1-segment copies
    assert m.clf.calibrated_classifiers_[0].estimator.shape_fit_[0] == 2 * len(sig)


def test_tiny_classes_fall_back_to_softmax_probabilities(toy, tmp_path):
    sig, y, spk = toy
    keep = [i for i, lab in enumerate(y) if lab != "sad"] + [y.index("sad")]  # one "sad" item only
    m = build_model({"type": "svm", "sample_rate": 8000}).fit([sig[i] for i in keep], [y[i] for i in keep], [spk[i] for i in keep])
    p = m.predict_proba(sig[:3], spk[:3])
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(p, load_model(m.save(tmp_path / "tiny")).predict_proba(sig[:3], spk[:3]))


def test_noise_copies_for_multi_condition_training():
    from callemo.models.svm import noise_copies

    rng = np.random.default_rng(1)
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

