"""The segment table: index, round trip, probabilities and the 'unknown' rule."""

from __future__ import annotations

import numpy as np
import pytest

from callemo.segments import INDEX, Segment, add_probabilities, durations, from_table, to_table


def test_table_round_trip_and_sorting():
    segs = [
        Segment("call.wav", 5.0, 7.5, speaker="S1", role="client", channel=1, extra={"overlap": False}),
        Segment("call.wav", 0.5, 3.0, speaker="S0", role="agent", channel=0, extra={"overlap": True}),
    ]
    t = to_table(segs)
    assert list(t.index.names) == INDEX
    assert t.index.get_level_values("start").tolist() == [0.5, 5.0]
    assert durations(t).tolist() == [2.5, 2.5]
    back = from_table(t)
    assert back[0].speaker == "S0" and back[0].extra["overlap"] is True
    assert back[1].channel == 1


def test_probabilities_and_unknown_segments():
    t = to_table([{"file": "a", "start": 0, "end": 2}, {"file": "a", "start": 2, "end": 2.2}])
    p = np.array([[0.1, 0.7, 0.2], [0.6, 0.2, 0.2]])
    out = add_probabilities(t, p, ["angry", "neutral", "sad"], unknown_mask=[False, True])
    assert out["emotion"].tolist() == ["neutral", "unknown"]
    assert out["confidence"].tolist() == [0.7, 0.0]
    assert np.isnan(out["p_angry"].iloc[1])
    with pytest.raises(ValueError, match="do not fit"):
        add_probabilities(t, p[:, :2], ["angry", "neutral", "sad"])
