import numpy as np
import pytest

from callemo.prep.silence import TimeMap, compress, silences


def test_long_silences_become_target_and_map_back():
    sr = 1000
    x = np.arange(20 * sr, dtype=float)  # sample value = original sample index
    regions = [(5.0, 6.0), (12.0, 13.0)]
    y, tm = compress(x, sr, regions, max_silence=3.0, target=1.0)
    # leading 5 s -> 1 s, middle 6 s -> 1 s, trailing 7 s -> 1 s: 2 s speech + 3 s silence
    assert len(y) == 5 * sr
    assert tm.removed == pytest.approx(15.0)
    # every processed sample maps to the original time it came from
    t = np.arange(len(y)) / sr
    assert np.allclose(tm.to_original(t), y / sr, atol=2e-3)
    # speech lands at its original times and round-trips
    for s, e in regions:
        ps, pe = tm.to_processed(s), tm.to_processed(e)
        assert tm.to_original(ps) == pytest.approx(s, abs=1e-4)
        assert tm.to_original(pe) == pytest.approx(e, abs=1e-4)
        assert pe - ps == pytest.approx(e - s, abs=1e-4)
    assert tm.to_original(tm.duration_processed) == pytest.approx(20.0)


def test_short_silences_untouched():
    sr = 100
    x = np.zeros(10 * sr)
    y, tm = compress(x, sr, [(0.5, 3.0), (4.0, 9.5)], max_silence=3.0, target=1.0)
    assert len(y) == len(x)
    assert tm.to_original(4.2) == pytest.approx(4.2)
    assert tm.removed == 0


def test_scalar_and_array_times_map_the_same_way():
    sr = 100
    # speech 2-4 s and 10-12 s of 14 s: the 6 s gap becomes 1 s (0.5 s kept on each side)
    _, tm = compress(np.zeros(14 * sr), sr, [(2.0, 4.0), (10.0, 12.0)], max_silence=3.0, target=1.0)
    assert tm.removed == pytest.approx(5.0)
    ts = np.array([1.0, 3.0, 4.0, 5.0, 6.0, 8.0])  # processed times before and after the cut at 4.5
    arr = tm.to_original(ts)
    scal = [tm.to_original(float(t)) for t in ts]
    assert all(type(v) is float for v in scal)  # a scalar in, a plain float out (JSON-ready)
    assert np.allclose(arr, scal)
    assert np.allclose(arr, [1.0, 3.0, 4.0, 10.0, 11.0, 13.0])
    # speech before the cut keeps its time, speech after it moves by the 5 s removed
    assert tm.to_original(3.0) == pytest.approx(3.0)
    assert tm.to_original(tm.to_processed(11.0)) == pytest.approx(11.0)
    assert tm.to_processed(11.0) == pytest.approx(6.0)
    # beyond either end of the map the slope is 1 (a few samples of rounding are not clipped)
    assert tm.to_original(tm.duration_processed + 0.01) == pytest.approx(14.01)


def test_stereo_and_no_speech():
    sr = 100
    x = np.zeros((2, 30 * sr))
    y, _tm = compress(x, sr, [(10.0, 12.0)], 3.0, 1.0)
    assert y.shape == (2, 4 * sr)
    y2, _tm2 = compress(x[0], sr, [], 3.0, 1.0)  # all silence: keeps target seconds
    assert len(y2) <= sr + 1
    assert silences([(1, 2)], 3) == [(0, 1), (2, 3)]


def test_identity_and_target_validation():
    tm = TimeMap.identity(5.0)
    assert np.allclose(tm.to_processed([0, 2.5, 5]), [0, 2.5, 5])
    with pytest.raises(ValueError):
        compress(np.zeros(100), 10, [], max_silence=1.0, target=2.0)
