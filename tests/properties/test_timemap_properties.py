"""Property-based tests (hypothesis) of the silence-compression time map.

For any speech regions, call length, rate and compression settings: the map is monotone both ways,
processed -> original -> processed is the identity, speech keeps its length, no processed silence
is longer than ``max_silence``, and the compressed audio has the map's length.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from callemo.prep.silence import compress, compress_map, silences

PROFILE = settings(max_examples=150, deadline=None)


@st.composite
def calls(draw):
    sr = draw(st.sampled_from([8000, 16000]))
    duration = draw(st.floats(0.5, 120.0))
    n = draw(st.integers(0, 12))
    cuts = sorted(draw(st.lists(st.floats(0.0, duration), min_size=2 * n, max_size=2 * n)))
    regions = [(cuts[2 * i], cuts[2 * i + 1]) for i in range(n) if cuts[2 * i + 1] - cuts[2 * i] > 0.01]
    target = draw(st.floats(0.0, 2.0))
    max_silence = target + draw(st.floats(0.05, 4.0))
    return sr, duration, regions, max_silence, target


@PROFILE
@given(call=calls())
def test_time_map_is_monotone_and_round_trips(call):
    sr, duration, regions, max_silence, target = call
    _, tm = compress_map(regions, duration, sr, max_silence, target)
    assert np.all(np.diff(tm.processed) > 0) and np.all(np.diff(tm.original) > 0)
    assert tm.duration_processed <= tm.duration_original + 1e-9
    assert abs(tm.duration_original - duration) < 2 / sr
    t = np.linspace(0, tm.duration_processed, 997)
    back = tm.to_processed(tm.to_original(t))
    np.testing.assert_allclose(back, t, atol=1e-6)
    o = np.linspace(0, duration, 1009)
    assert np.all(np.diff(tm.to_processed(o)) >= -1e-9)  # original -> processed is monotone
    assert np.all(np.diff(tm.to_original(t)) >= -1e-9)
    # speech is never compressed: each region keeps its length (to a sample of rounding)
    for s, e in regions:
        assert abs((tm.to_processed(e) - tm.to_processed(s)) - (e - s)) < 2.5 / sr
    if not regions:  # nothing but silence: kept whole, or shortened to `target` like any long silence
        assert tm.duration_processed == tm.duration_original or abs(tm.duration_processed - target) < 2.5 / sr
        return
    # no silence longer than max_silence survives (a long one becomes `target`)
    proc = [(float(tm.to_processed(s)), float(tm.to_processed(e))) for s, e in regions]
    for s, e in silences(proc, tm.duration_processed):
        assert e - s <= max_silence + 2.5 / sr


@settings(max_examples=40, deadline=None)
@given(call=calls(), channels=st.integers(1, 2))
def test_compressed_audio_has_the_map_length(call, channels):
    sr, duration, regions, max_silence, target = call
    duration = min(duration, 20.0)
    regions = [(s, min(e, duration)) for s, e in regions if s < duration]
    n = round(duration * sr)
    x = np.arange(n, dtype=np.float64) if channels == 1 else np.stack([np.arange(n), -np.arange(n)]).astype(float)
    y, tm = compress(x, sr, regions, max_silence, target)
    assert y.shape[:-1] == x.shape[:-1]
    assert abs(y.shape[-1] - tm.duration_processed * sr) <= 1
    # the sample at processed time t is the original sample at to_original(t)
    row = y if channels == 1 else y[0]
    idx = np.linspace(0, len(row) - 1, 50).astype(int)
    orig = np.asarray(tm.to_original(idx / sr)) * sr
    np.testing.assert_allclose(row[idx], orig, atol=1.5)
