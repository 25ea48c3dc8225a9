"""The segment table: index, round trip, probabilities and the 'unknown' rule."""

from __future__ import annotations

import numpy as np
import pytest

from callemo.segments import INDEX, add_probabilities, durations, intersect_intervals, merge_intervals, to_table


def test_table_from_records_is_indexed_and_sorted():
    t = to_table([
        {"file": "call.wav", "start": 5.0, "end": 7.5, "speaker": "S1", "role": "client", "channel": 1,
         "overlap": False},
        {"file": "call.wav", "start": 0.5, "end": 3.0, "speaker": "S0", "role": "agent", "channel": 0,
         "overlap": True},
    ])
    assert list(t.index.names) == INDEX
    assert t.index.get_level_values("start").tolist() == [0.5, 5.0]
    assert durations(t).tolist() == [2.5, 2.5]
    assert t["speaker"].tolist() == ["S0", "S1"] and t["overlap"].tolist() == [True, False]


def test_interval_union_and_intersection():
    assert merge_intervals([(3.5, 5), (0, 1), (1, 2), (3, 4), (6, 6)]) == [(0.0, 2.0), (3.0, 5.0)]
    assert intersect_intervals([(0, 2), (3, 6)], [(1, 4), (5, 7)]) == [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]
    # overlapping input on either side is merged first; pieces shorter than min_dur are dropped
    assert intersect_intervals([(0, 2), (1, 3)], [(2.9, 5), (0.5, 0.6)], min_dur=0.2) == []
    assert intersect_intervals([(0, 2), (1, 3)], [(2.5, 5)], min_dur=0.2) == [(2.5, 3.0)]


def test_probabilities_and_unknown_segments():
    t = to_table([{"file": "a", "start": 0, "end": 2}, {"file": "a", "start": 2, "end": 2.2}])
    p = np.array([[0.1, 0.7, 0.2], [0.6, 0.2, 0.2]])
    out = add_probabilities(t, p, ["angry", "neutral", "sad"], unknown_mask=[False, True])
    assert out["emotion"].tolist() == ["neutral", "unknown"]
    assert out["confidence"].tolist() == [0.7, 0.0]
    assert np.isnan(out["p_angry"].iloc[1])
    with pytest.raises(ValueError, match="do not fit"):
        add_probabilities(t, p[:, :2], ["angry", "neutral", "sad"])
