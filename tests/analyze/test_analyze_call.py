"""analyze_file end to end on real (espeak-ng) speech: original times through silence
compression, stereo and mono paths, role assignment, silent calls."""

from __future__ import annotations

import numpy as np
import pytest

from callemo.analyze.pipeline import analyze_file
from callemo.analyze.schema import CallJSON
from callemo.io import save_audio
from callemo.prep.call import prepare_call
from helpers.calls import example_audio, example_turns, role_at, tm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model():
    return tm.train()


def _noise(n, seed=0, level=3e-4):
    return (level * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def _overlaps(segments, lo, hi):
    flat = segments.reset_index()
    return flat[(flat["end"] > lo) & (flat["start"] < hi)]


def test_long_hold_outputs_in_original_time(tmp_path, model):
    """A 25 s hold inserted at 31 s: compressed for processing, yet every output time is original."""
    x, sr = example_audio()
    cut, hold = int(31.0 * sr), 25.0
    y = np.concatenate([x[:cut], _noise(int(hold * sr)), x[cut:]])
    f = save_audio(tmp_path / "hold.wav", y, sr)
    r = analyze_file(f, model=model, max_silence=3.0, target_silence=1.0)
    assert r.duration == pytest.approx(len(y) / sr, abs=0.01)
    seg = r.segments
    # nothing is reported inside the hold (29.94 .. 35.94 + 25 in the new file)
    assert _overlaps(seg, 30.5, 60.5).empty
    # every truth turn after the hold is covered by a segment, and its speech starts at its original
    # (shifted) time: checked on the speech regions, which (unlike segments) no speaker error can merge
    speech = prepare_call(f, max_silence=3.0, target_silence=1.0).speech
    for s, e, _role in example_turns():
        if s > 31:
            assert not _overlaps(seg, s + hold, e + hold).empty, (s + hold, e + hold)
            starts = [a for a, b in speech if b > s + hold and a < e + hold]
            assert starts and min(starts) == pytest.approx(s + hold, abs=0.6), (s + hold, starts)
    # the 2 Hz curves cover the whole original duration with a gap during the hold
    c = r.curves["agent"]
    assert c["time"].iloc[-1] == pytest.approx(np.floor(r.duration * 2) / 2)
    during = c[(c["time"] > 31) & (c["time"] < 60)]
    assert during["valence"].isna().all()
    assert r.summary.silence_share > 0.4


def test_stereo_channels_name_roles(tmp_path, model):
    x, sr = example_audio()
    st = np.stack([_noise(len(x), 1), _noise(len(x), 2)])
    for s, e, role in example_turns():
        i0, i1 = int(s * sr), int(e * sr)
        st[0 if role == "agent" else 1, i0:i1] = x[i0:i1]
    f = save_audio(tmp_path / "stereo.wav", st, sr)
    r = analyze_file(f, model=model, channels=["agent", "client"])
    flat = r.segments.reset_index()
    assert r.channels == 2 and set(flat["role"]) == {"agent", "client"}
    assert set(flat.loc[flat["role"] == "agent", "channel"]) == {0}
    for s, e, role in example_turns():
        assert role_at(r.segments, (s + e) / 2) == role
    flipped = analyze_file(f, model=model, channels=["client", "agent"])
    for s, e, role in example_turns():
        assert role_at(flipped.segments, (s + e) / 2) == ("client" if role == "agent" else "agent")
    CallJSON.model_validate(r.to_dict())


@pytest.fixture(scope="module")
def mono_file(tmp_path_factory):
    x, sr = example_audio()
    return save_audio(tmp_path_factory.mktemp("mono") / "call.wav", x, sr)


def test_mono_diarization_and_roles(mono_file, model):
    r = analyze_file(mono_file, model=model, speakers=2, first_speaker="agent")
    turns = example_turns()
    correct = sum(role_at(r.segments, (s + e) / 2) == role for s, e, role in turns)
    assert correct >= len(turns) - 1, r.segments[["speaker", "role"]]
    assert r.channels == 1
    assert r.segments["channel"].isna().all() if "channel" in r.segments else True
    # the first speaker is the agent; --first-speaker client flips the roles
    flipped = analyze_file(mono_file, model=model, speakers=2, first_speaker="client")
    for s, e, _role in turns:
        a, b = role_at(r.segments, (s + e) / 2), role_at(flipped.segments, (s + e) / 2)
        if a in ("agent", "client"):
            assert b == ("client" if a == "agent" else "agent")


def test_any_sample_rate_input(tmp_path, model):
    from callemo.io import resample

    x, sr = example_audio()
    y = resample(x[: 20 * sr], sr, 44100)
    f = save_audio(tmp_path / "wide.flac", y, 44100)
    r = analyze_file(f, model=model)
    assert r.sample_rate == 44100 and r.duration == pytest.approx(20, abs=0.01)
    assert len(r.segments) >= 2


def test_silent_call_gives_empty_timeline(tmp_path, model):
    f = save_audio(tmp_path / "silent.wav", _noise(10 * 8000, level=1e-4), 8000)
    r = analyze_file(f, model=model)
    d = r.to_dict()
    assert d["segments"] == []
    assert d["summary"]["needs_review"] is True and d["summary"]["review_reasons"] == ["no speech"]
    assert all(v is None for v in d["curves"]["client"]["valence"])
    CallJSON.model_validate(d)


def test_unreadable_inputs_raise_clear_errors(tmp_path, model):
    from callemo.errors import CallemoError

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 20)
    for f, words in ((empty, "empty"), (bad, "cannot decode"), (tmp_path / "missing.wav", "not found")):
        with pytest.raises(CallemoError, match=words) as ei:
            analyze_file(f, model=model)
        assert str(f) in str(ei.value)
