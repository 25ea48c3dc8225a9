"""Input conditioning every load gets: DC removal, low-rate warning, float level, NaN; arrays too."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from callemo.io import AudioError, AudioWarning, condition_audio, iter_blocks, load_audio


def _voice8k(voice, seconds: float = 3.0) -> np.ndarray:
    return voice(seconds, sr=8000, f0=120.0, seed=4, level=0.3)


def test_dc_offset_is_removed_on_load(tmp_path, voice):
    x = _voice8k(voice)
    clean = tmp_path / "clean.wav"
    offset = tmp_path / "dc.wav"
    sf.write(clean, x, 8000, subtype="FLOAT")
    sf.write(offset, x + 0.2, 8000, subtype="FLOAT")
    a, _ = load_audio(clean)
    b, _ = load_audio(offset)
    raw, _ = load_audio(offset, condition=False)
    assert abs(float(raw.mean()) - 0.2) < 0.01  # the file really has the offset
    assert abs(float(b.mean())) < 1e-3
    np.testing.assert_allclose(a, b, atol=1e-4)  # the offset leaves no trace, not even at the start
    # the speech band is untouched: the conditioned clean signal is the clean signal minus < 1 % energy
    assert np.sum((a - x) ** 2) < 0.01 * np.sum(x**2)


def test_dc_offset_does_not_change_features(tmp_path, voice):
    from callemo.features.base import get_extractor

    x = _voice8k(voice)
    sf.write(tmp_path / "clean.wav", x, 8000, subtype="FLOAT")
    sf.write(tmp_path / "dc.wav", x + 0.2, 8000, subtype="FLOAT")
    ext = get_extractor("prosody", sample_rate=8000, level_norm=True)
    f_clean = ext(load_audio(tmp_path / "clean.wav")[0], 8000)
    f_dc = ext(load_audio(tmp_path / "dc.wav")[0], 8000)
    f_raw = ext(load_audio(tmp_path / "dc.wav", condition=False)[0], 8000)
    scale = np.abs(f_clean) + 1.0
    assert np.max(np.abs(f_dc - f_clean) / scale) < 1e-3
    assert np.max(np.abs(f_raw - f_clean) / scale) > 0.05  # without conditioning the offset moves features


def test_low_rate_warns_and_too_low_refuses(tmp_path, voice):
    p = tmp_path / "six.wav"
    sf.write(p, voice(1.0, sr=6000), 6000)
    with pytest.warns(AudioWarning, match=r"six\.wav: sample rate 6000 Hz is below 8 kHz"):
        x, sr = load_audio(p)
    assert sr == 6000 and len(x) == 6000
    q = tmp_path / "tiny.wav"
    sf.write(q, np.zeros(500, np.float32), 500)
    with pytest.raises(AudioError, match=r"tiny\.wav: sample rate 500 Hz is too low"):
        load_audio(q)


def test_float_samples_far_outside_unit_range_are_scaled(tmp_path, voice):
    x = _voice8k(voice, 1.0)
    p = tmp_path / "int16_as_float.wav"
    sf.write(p, x * 32767, 8000, subtype="FLOAT")
    with pytest.warns(AudioWarning, match=r"int16_as_float\.wav: float samples reach 98\d\d, far outside"):
        y, _ = load_audio(p)
    assert 0.8 < np.abs(y).max() <= 1.05
    # a segment of the same file gets the same gain (the whole file's peak), so segments agree
    with pytest.warns(AudioWarning):
        seg, _ = load_audio(p, start=0.5, end=0.9)
    np.testing.assert_allclose(seg[200:], y[4000 + 200 : 7200], atol=2e-3)


def test_float_samples_slightly_over_one_are_left(tmp_path, recwarn):
    t = np.arange(8000) / 8000
    p = tmp_path / "hot.wav"
    sf.write(p, 1.3 * np.sin(2 * np.pi * 200 * t), 8000, subtype="FLOAT")
    y, _ = load_audio(p)
    assert 1.2 < np.abs(y).max() < 1.5  # (the high-pass rings ~10 % at the abrupt onset)
    assert not [w for w in recwarn if issubclass(w.category, AudioWarning)]


def test_nan_in_file_names_file(tmp_path):
    x = np.zeros(8000, np.float32)
    x[100] = np.nan
    p = tmp_path / "nan.wav"
    sf.write(p, x, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio contains NaN"):
        load_audio(p)


def test_blocks_equal_whole_load(tmp_path, voice):
    x = np.stack([_voice8k(voice, 5.0), 0.5 * _voice8k(voice, 5.0)[::-1].copy()]) + 0.1
    p = tmp_path / "st.wav"
    sf.write(p, x.T, 8000, subtype="FLOAT")
    whole, _ = load_audio(p, 16000, mono=False)
    blocks = list(iter_blocks(p, block_s=0.7, sr=16000, mono=False))
    assert len(blocks) > 5 and all(b.shape[0] == 2 for b in blocks)
    joined = np.concatenate(blocks, axis=1)
    n = min(joined.shape[1], whole.shape[1])
    assert abs(joined.shape[1] - whole.shape[1]) <= 16
    np.testing.assert_allclose(joined[:, :n], whole[:, :n], atol=1e-5)
    # and the same with a small block size in load_audio itself
    small, _ = load_audio(p, 16000, mono=False, block_s=0.5)
    np.testing.assert_allclose(small, whole, atol=1e-5)


def test_condition_audio_arrays():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    a = condition_audio(x + 0.3, 8000)
    b = condition_audio(x, 8000)
    np.testing.assert_allclose(a, b, atol=1e-5)
    i16 = np.round(x * 32767).astype(np.int16)
    np.testing.assert_allclose(condition_audio(i16, 8000), b, atol=1e-3)
    st = condition_audio(np.stack([x, x]), 8000)
    assert st.shape == (2, 8000)
    with pytest.raises(AudioError, match=r"call\.wav: audio contains NaN"):
        condition_audio(np.array([0.0, np.inf] * 100), 8000, name="call.wav")
    with pytest.raises(AudioError, match="zero length"):
        condition_audio(np.zeros(0), 8000)
    with pytest.raises(AudioError, match="must be numbers"):
        condition_audio(np.array(["a"] * 10), 8000)


def test_conditioner_state_carries_across_chunks_and_calls():
    from callemo.io import Conditioner

    x = np.random.default_rng(1).standard_normal((20000, 2)).astype(np.float32) * 0.1 + 0.3
    a = Conditioner(8000, 2)(x)
    small = Conditioner(8000, 2)
    small.CHUNK = 777
    np.testing.assert_allclose(small(x), a, atol=1e-6)
    c = Conditioner(8000, 2)
    np.testing.assert_allclose(np.concatenate([c(x[:5000]), c(x[5000:])]), a, atol=1e-6)
    assert abs(float(a[1000:].mean())) < 1e-3  # and the offset is gone
