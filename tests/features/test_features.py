"""Feature extractors on generated audio: shapes, finite values, F0 accuracy, cache behaviour."""

from __future__ import annotations

import time

import numpy as np
import pytest

from callemo.features import FeatureError, extract, get_extractor
from callemo.features.prosody import normalise_level, track_f0
from helpers.voices import synth_voice


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("sr", [16000, 8000])
@pytest.mark.parametrize("f0", [95.0, 150.0, 230.0])
def test_f0_of_a_synthetic_voice_is_within_a_few_percent(sr, f0):
    x = synth_voice(2.0, sr=sr, f0=f0, vibrato=0.0, seed=1)
    f, per, _ = track_f0(x, sr)
    voiced = f[f > 0]
    assert len(voiced) > 0.5 * len(f)
    assert abs(np.median(voiced) / f0 - 1) < 0.03
    assert np.all((per >= 0) & (per <= 1))


def test_f0_std_semitones_follows_the_pitch_movement():
    ex = get_extractor("prosody", sample_rate=16000)
    i = ex.feature_names.index("f0_std_semitones")
    flat = ex.process_signal(synth_voice(2.0, f0=140.0, vibrato=0.0))[i]
    moving = ex.process_signal(synth_voice(2.0, f0=140.0, vibrato=0.15))[i]
    assert moving > flat + 0.5


def test_unvoiced_noise_has_low_voiced_ratio():
    ex = get_extractor("prosody", sample_rate=16000)
    noise = (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    v = ex.process_signal(noise)
    assert v[ex.feature_names.index("f0_voiced_ratio")] < 0.2


@pytest.mark.parametrize("sr", [16000, 8000])
def test_prosody_shapes_and_finite(sr):
    ex = get_extractor("prosody", sample_rate=sr)
    names = ex.feature_names
    assert len(names) == len(set(names)) and "f0_std_semitones" in names
    for dur in (0.02, 0.3, 2.5):
        v = ex.process_signal(synth_voice(dur, sr=sr) if dur > 0.05 else np.zeros(int(dur * sr), np.float32))
        assert v.shape == (len(names),)
        assert np.all(np.isfinite(v))
    # silence is fine too
    assert np.all(np.isfinite(ex.process_signal(np.zeros(sr, np.float32))))


def test_prosody_is_level_invariant_and_resamples():
    ex = get_extractor("prosody", sample_rate=16000)
    x = synth_voice(2.0, sr=16000)
    a, b = ex.process_signal(x), ex.process_signal(0.1 * x)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
    assert np.isclose(20 * np.log10(np.sqrt(np.mean(normalise_level(x, 16000) ** 2))), -20.0, atol=3.0)
    # a 8 kHz input is resampled to the extractor's rate
    v8 = ex.process_signal(synth_voice(2.0, sr=8000), 8000)
    assert v8.shape == a.shape and np.all(np.isfinite(v8))


def test_prosody_runs_much_faster_than_real_time():
    ex = get_extractor("prosody", sample_rate=8000)
    x = synth_voice(10.0, sr=8000)
    ex.process_signal(x)
    t = time.process_time()
    ex.process_signal(x)
    dt = time.process_time() - t
    assert 10.0 / max(dt, 1e-6) > 50  # >= 50x real time on one core (typically ~400x)


def test_logmel_frames():
    ex = get_extractor("logmel", sample_rate=16000, n_mels=40)
    x = synth_voice(1.0, sr=16000)
    m = ex.process_signal(x)
    assert m.shape[1] == 120 and abs(m.shape[0] - 101) <= 1  # 10 ms hop
    assert np.all(np.isfinite(m))
    assert get_extractor("logmel").dim == 192  # default 64 mels + deltas + delta-deltas
    short = ex.process_signal(np.zeros(200, np.float32))
    assert short.shape[1] == 120 and np.all(np.isfinite(short))
    out = extract(ex, [x, x[:8000]])
    assert isinstance(out, list) and out[1].shape[0] < out[0].shape[0]


def test_cache_hit_returns_identical_values(tmp_path):
    ex = get_extractor("prosody", sample_rate=8000)
    sigs = [synth_voice(1.0, sr=8000, seed=s) for s in range(4)]
    a = extract(ex, sigs, cache=tmp_path)
    files = sorted((tmp_path / "features").rglob("*.npy"))
    assert len(files) == 4
    b = extract(ex, sigs, cache=tmp_path)
    np.testing.assert_array_equal(a, b)
    # a hit really reads the cache: poison one entry and see it come back
    v = np.load(files[0])
    np.save(files[0], np.full_like(v, 7.0))
    c = extract(ex, sigs, cache=tmp_path)
    assert (c == 7.0).all(axis=1).sum() == 1
    # parallel extraction gives the same values as serial
    d = extract(ex, sigs, cache=False, jobs=2)
    np.testing.assert_allclose(a, d, rtol=1e-6)


def test_cache_key_changes_with_parameters(tmp_path):
    sig = [synth_voice(1.0, sr=8000)]
    extract(get_extractor("prosody", sample_rate=8000), sig, cache=tmp_path)
    extract(get_extractor("prosody", sample_rate=8000, n_mels=20), sig, cache=tmp_path)
    extract(get_extractor("prosody", sample_rate=8000, level_norm=False), sig, cache=tmp_path)
    dirs = {p.parent.parent.name for p in (tmp_path / "features").rglob("*.npy")}
    assert len(dirs) == 3


def test_params_rebuild_the_same_extractor():
    ex = get_extractor("prosody", sample_rate=8000, n_mels=20)
    again = get_extractor(ex.params())
    assert again.params() == ex.params() and again.feature_names == ex.feature_names


def test_unknown_extractor_is_a_clear_error():
    with pytest.raises(FeatureError, match="unknown feature extractor"):
        get_extractor("nope")


def test_opensmile_sets():
    pytest.importorskip("opensmile")
    x = synth_voice(1.0, sr=16000)
    eg = get_extractor("egemaps", sample_rate=16000)
    v = eg.process_signal(x)
    assert v.shape == (88,) == (len(eg.feature_names),) and np.all(np.isfinite(v))
    assert eg.params()["feature_set"] == "eGeMAPSv02"
