import numpy as np
import pandas as pd
import pytest

from callemo.prep.roles import RoleError, assign_roles, parse_channels, role_accuracy
from callemo.prep.segment import emotion_segments
from callemo.segments import to_table


def _turns():
    return to_table([
        dict(file="f", start=0.0, end=0.2, speaker="S1"),   # a blip before the agent's greeting
        dict(file="f", start=0.5, end=2.5, speaker="S0"),
        dict(file="f", start=3.0, end=6.0, speaker="S1"),
        dict(file="f", start=6.5, end=7.0, speaker="S0"),
    ])


def test_first_speaker_is_agent_or_client():
    t = assign_roles(_turns())
    assert t.xs(0.5, level="start")["role"].iloc[0] == "agent"
    assert set(t[t.speaker == "S1"].role) == {"client"}
    t2 = assign_roles(_turns(), first_speaker="client")
    assert set(t2[t2.speaker == "S0"].role) == {"client"}
    assert set(t2[t2.speaker == "S1"].role) == {"agent"}
    with pytest.raises(RoleError):
        assign_roles(_turns(), first_speaker="boss")


def test_roles_by_channel():
    t = to_table([dict(file="f", start=0.0, end=1.0, speaker="a", channel=1),
                  dict(file="f", start=1.0, end=2.0, speaker="b", channel=0)])
    r = assign_roles(t, channels=parse_channels("client,agent"))
    assert list(r.sort_index().role) == ["agent", "client"]
    assert parse_channels(None) == ["agent", "client"]
    with pytest.raises(RoleError):
        parse_channels("agent", 2)


def test_role_accuracy():
    truth = pd.DataFrame({"start": [0.0, 2.0], "end": [2.0, 4.0], "role": ["agent", "client"]})
    pred = pd.DataFrame({"start": [0.0, 2.0], "end": [2.0, 4.0], "role": ["agent", "agent"]})
    assert role_accuracy(pred, truth) == pytest.approx(0.5, abs=0.01)


def test_segments_split_merge_unknown():
    t = to_table([
        dict(file="f", start=0.0, end=0.6, speaker="A"),
        dict(file="f", start=1.0, end=1.5, speaker="A"),     # short, merged with the previous
        dict(file="f", start=2.0, end=47.0, speaker="B"),    # 45 s -> 3 x 15 s
        dict(file="f", start=48.0, end=48.4, speaker="A"),   # short, nobody to merge with
    ])
    s = emotion_segments(t, max_len=20.0, min_len=1.0)
    d = (s.index.get_level_values("end") - s.index.get_level_values("start"))
    assert d.max() <= 20.0 + 1e-9
    assert len(s) == 5
    first = s.iloc[0]
    assert first.name[1:] == (0.0, 1.5) and first.n_turns == 2 and not first.unknown
    assert s.iloc[-1].unknown and s.iloc[-1].status == "short"
    # nothing dropped: all speech still covered
    assert float(np.sum(d)) >= 0.6 + 0.5 + 45 + 0.4
    # paper 001 setting: min 2.5 s
    s2 = emotion_segments(t, max_len=20.0, min_len=2.5)
    assert s2.unknown.sum() == 2


def test_segments_do_not_merge_across_other_speaker():
    t = to_table([
        dict(file="f", start=0.0, end=0.5, speaker="A"),
        dict(file="f", start=0.6, end=3.0, speaker="B"),
        dict(file="f", start=3.1, end=4.0, speaker="A"),
    ])
    s = emotion_segments(t, min_len=1.0)
    assert len(s) == 3 and s.unknown.sum() == 2
