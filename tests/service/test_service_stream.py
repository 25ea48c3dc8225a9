"""StreamAnalyzer: live analysis of PCM chunks without a socket (real silero VAD, real speech)."""

from __future__ import annotations

import itertools

import pytest
from _svc import pcm_bytes, stereo_call, train_model, turns

from callemo.analyze.options import parse_options
from callemo.service.streaming import StreamAnalyzer, StreamError, parse_config


def _run(sa, pcm: bytes, chunk_bytes: int):
    """Push ``pcm`` in chunks; return (events with the stream time at emission, close events)."""
    out = []
    for i in range(0, len(pcm), chunk_bytes):
        out.extend((sa.time, ev) for ev in sa.push(pcm[i:i + chunk_bytes]))
    return out, sa.close()


@pytest.fixture(scope="module")
def stereo_events():
    st, sr = stereo_call()
    sa = StreamAnalyzer(train_model("neutral"), sr, ["agent", "client"])
    live, final = _run(sa, pcm_bytes(st), int(0.1 * sr) * 4)  # 100 ms of 2 x int16
    return sa, live, final, st.shape[1] / sr


def test_segments_at_the_right_times(stereo_events):
    sa, live, final, _duration = stereo_events
    segs = [ev for _, ev in live if ev["type"] == "segment"] + [ev for ev in final if ev["type"] == "segment"]
    assert final[-1]["type"] == "summary"
    assert all(s["end"] - s["start"] <= sa.settings.max_segment + 0.1 for s in segs)
    for s0, e0, role in turns():
        mine = [s for s in segs if s["role"] == role and s["end"] > s0 and s["start"] < e0]
        assert mine, (s0, e0, role)
        # the turn is covered from its start to its end (VAD padding / frame rounding of ~0.1 s)
        assert min(s["start"] for s in mine) == pytest.approx(s0, abs=0.25)
        assert max(s["end"] for s in mine) == pytest.approx(e0, abs=0.25)
        # and the other channel reports nothing inside it
        assert not [s for s in segs if s["role"] != role and s["start"] > s0 + 0.3 and s["end"] < e0 - 0.3]
    assert not [s for s in segs if s["start"] < 35.5 and s["end"] > 30.5]  # the hold
    # each segment is sent as soon as its turn ends (end silence + a chunk) or its 4 s are up
    for t, ev in live:
        if ev["type"] == "segment":
            assert ev["end"] <= t + 1e-6 and t - ev["end"] <= sa.settings.min_silence + 0.25, (t, ev)
    # the tiny model hears neutral speech; valence/arousal from the circumplex, probabilities given
    judged = [s for s in segs if s["emotion"] not in ("unknown", None)]
    assert judged and all(s["emotion"] == "neutral" and abs(s["valence"]) < 0.1 for s in judged)
    # emotions="client" (the default): the agent's turns come without any emotion (EU AI Act Art. 5(1)(f))
    agent = [s for s in segs if s["role"] == "agent"]
    assert agent and all(s["emotion"] is None and s["confidence"] is None and s["probabilities"] is None
                         and s["valence"] is None for s in agent)
    assert {s["role"] for s in judged} == {"client"}
    assert set(judged[0]["probabilities"]) == {"angry", "neutral", "sad"}
    assert not [ev for _, ev in live if ev["type"] == "alert"]


def test_summary_and_bounded_memory(stereo_events):
    sa, _live, final, duration = stereo_events
    summ = final[-1]
    assert summ["duration"] == pytest.approx(duration, abs=0.01)
    truth = {r: sum(e - s for s, e, rr in turns() if rr == r) for r in ("agent", "client")}
    for role in ("agent", "client"):
        assert summ["summary"]["talk_time"][role] == pytest.approx(truth[role], rel=0.1)
    assert summ["n_segments"] == len(sa.records) and summ["n_alerts"] == 0
    assert summ["summary"]["needs_review"] is False
    # the audio kept is a fixed rolling window, whatever the call's length
    for ch in sa.channels:
        assert ch.buffer.data.shape[0] == int(sa.buffer_seconds * sa.sr) and sa.buffer_seconds < 15
    with pytest.raises(StreamError, match="closed"):
        sa.push(b"\x00\x00" * 10)


def test_alerts_for_an_angry_client():
    st, sr = stereo_call()
    sa = StreamAnalyzer(train_model("angry"), sr, ["agent", "client"],
                        alerts={"valence_threshold": -0.3, "cooldown": 10})
    # odd chunk sizes: samples split across pushes must not matter
    live, final = _run(sa, pcm_bytes(st), 1001)
    alerts = [ev for _, ev in live if ev["type"] == "alert"] + [ev for ev in final if ev["type"] == "alert"]
    assert alerts and all(a["role"] == "client" for a in alerts)  # the agent is not watched
    kinds = [a["kind"] for a in alerts]
    assert "emotion" in kinds and "low_valence" in kinds
    first = alerts[0]
    assert first["kind"] == "emotion" and first["emotion"] == "angry" and first["confidence"] >= 0.6
    assert 6.8 < first["time"] < 12.0  # during the client's first turn (6.84 - 13.47 s)
    low = next(a for a in alerts if a["kind"] == "low_valence")
    assert low["valence"] < -0.3 and "valence" in low["message"]
    # emotion alerts respect the cool-down
    em = [a["time"] for a in alerts if a["kind"] == "emotion"]
    assert all(b - a >= 10 for a, b in itertools.pairwise(em))
    assert final[-1]["n_alerts"] == len(alerts)
    client = [r for r in sa.records if r["role"] == "client" and r["emotion"] != "unknown"]
    assert client and all(r["emotion"] == "angry" for r in client)
    assert final[-1]["summary"]["needs_review"] is True


def test_mono_16k_and_float_input():
    st, sr = stereo_call()
    from callemo.io import resample

    mono = resample(st.sum(axis=0), sr, 16000)
    sa = StreamAnalyzer(train_model("neutral"), 16000, 1)
    events = []
    step = 16000 // 4
    for i in range(0, 20 * 16000, step):  # the first 20 s as float arrays
        events += sa.push(mono[i:i + step])
    events += sa.close()
    segs = [e for e in events if e["type"] == "segment"]
    assert segs and {s["role"] for s in segs} == {"client"}  # one channel: named client by default
    assert segs[0]["start"] == pytest.approx(0.5, abs=0.25)
    assert events[-1]["type"] == "summary" and events[-1]["duration"] == pytest.approx(20.0, abs=0.01)


def test_speaker_context_for_speaker_normalised_models():
    """A model normalising per speaker gets the speaker's earlier segments with each new one."""
    st, sr = stereo_call()
    model = train_model("neutral")
    model.config["normalisation"] = "speaker"
    seen = []
    orig = model.predict_proba

    def spy(signals, speakers=None):
        seen.append((len(signals), set(speakers)))
        return orig(signals, speakers)

    model.predict_proba = spy
    sa = StreamAnalyzer(model, sr, ["agent", "client"], settings={"context_segments": 3},
                        options=parse_options(emotions="all"))
    _run(sa, pcm_bytes(st[:, : 30 * sr]), 3200)
    assert sa.speaker_context and len(seen) == len(sa.records)
    assert [n for n, _ in seen][:1] == [1] and max(n for n, _ in seen) == 4  # 3 earlier + the new one
    assert all(len(spk) == 1 for _, spk in seen)  # one speaker per batch
    # a model without per-speaker normalisation sees one segment at a time
    plain = StreamAnalyzer(train_model("neutral"), sr, ["agent", "client"])
    assert not plain.speaker_context


@pytest.mark.parametrize("cfg, match", [
    ({"sample_rate": 44100}, "8000 or 16000"),
    ({"channels": 3}, "1 or 2"),
    ({"channels": ["agent", "agent"]}, "distinct"),
    ({"alerts": {"valence": -1}}, "alerts.valence: unknown key"),
    ({"alerts": {"valence_threshold": "low"}}, "alerts.valence_threshold: Input should be a valid number"),
    ({"rate": 8000}, "rate: unknown key"),
    ({"settings": {"context_segments": 100}}, "context_segments"),
    ([1, 2], "JSON object"),
])
def test_bad_configs(cfg, match):
    with pytest.raises(StreamError, match=match):
        parse_config(cfg)


def test_good_config():
    c = parse_config({"sample_rate": 8000, "channels": ["agent", "client"], "alerts": {"roles": "client",
                      "emotions": ["angry", "sad"]}, "settings": {"max_segment": 3}})
    assert c.sample_rate == 8000 and c.channels == ["agent", "client"]
    assert c.alerts.emotions == ("angry", "sad") and c.settings.max_segment == 3.0
    opts = c.options()
    assert opts.channels == ["agent", "client"] and opts.alerts.emotions == ("angry", "sad")
    assert opts.vad == c.settings.vad_settings()  # one set of VAD settings for the stream and its options


def test_rolling_buffer_wraps_around():
    """Random write sizes (some larger than the buffer) against the plain concatenation."""
    import numpy as np

    from callemo.service.streaming import RollingBuffer

    rng = np.random.default_rng(1)
    buf, cap = RollingBuffer(1000), 1000
    everything = np.zeros(0, np.float32)
    for n in [0, 1, 999, 1, 1000, 2500, *rng.integers(0, 700, 60)]:
        x = rng.standard_normal(int(n)).astype(np.float32)
        buf.write(x)
        everything = np.concatenate([everything, x])
        total = len(everything)
        assert buf.total == total
        for i0, i1 in [(total - cap, total), (total - 10, total), (total - cap - 50, total - 3), (0, 5),
                       (total - 1, total + 40), (total - 400, total - 399)]:
            lo = max(i0, total - cap, 0)
            np.testing.assert_array_equal(buf.get(i0, i1), everything[lo:max(lo, min(i1, total))])
    assert buf.data.shape == (cap,)  # the memory never grows


def test_alert_rules_rearm_after_recovery():
    """A low_valence alert fires once; it fires again only after the valence has come back above
    threshold + rearm; an emotion alert respects the cool-down."""
    from callemo.service.streaming import AlertRules, AlertState, check_alerts

    rules = AlertRules(negative_valence=-0.3, rearm=0.1, smooth=1e-3, cooldown=20, emotions=["angry"],
                       emotion_confidence=0.6)
    state = AlertState()
    t = 0.0

    def seg(valence, emotion="sad", confidence=0.9, role="client"):
        nonlocal t
        t += 2.0
        rec = {"start": t - 2.0, "end": t, "role": role, "speaker": role, "emotion": emotion,
               "confidence": confidence, "valence": valence}
        return [a["kind"] for a in check_alerts(rules, state, rec)]

    assert seg(-0.5) == ["low_valence"]          # drops below -0.3
    assert seg(-0.6) == []                       # still low: no repeat
    assert seg(-0.25) == []                      # above the threshold, not above -0.3 + 0.1: not re-armed
    assert seg(-0.5) == []
    assert seg(-0.15) == [] and state.low_armed  # above -0.2: re-armed
    assert seg(-0.45) == ["low_valence"]         # and fires again
    assert seg(-0.1, role="agent") == [] and seg(-0.9, role="agent") == []  # the agent is not watched
    assert seg(0.0, emotion="angry") == ["emotion"]
    assert seg(0.0, emotion="angry") == []       # within the 20 s cool-down
    assert seg(0.0, emotion="angry", confidence=0.5) == []
    t += 20.0
    assert seg(0.0, emotion="angry") == ["emotion"]
    assert seg(None, emotion=None, confidence=None) == []  # emotions not inferred: nothing to judge
