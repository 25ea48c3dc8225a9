"""The whole preparation on simulated calls: mono diarization, stereo channels, roles."""

import warnings

import numpy as np
import pandas as pd
import pytest

from callemo.prep import prepare_call
from callemo.prep.roles import role_accuracy
from callemo.simulate.calls import read_rttm, simulate_calls
from helpers.callsynth import synth_manifest


def der(ref: pd.DataFrame, hyp: pd.DataFrame, label="speaker") -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    r, h = Annotation(), Annotation()
    for i, (s, e, lab) in enumerate(zip(ref.start, ref.end, ref[label])):
        r[Segment(s, e), i] = lab
    for i, (s, e, lab) in enumerate(zip(hyp.start, hyp.end, hyp[label])):
        h[Segment(s, e), i] = lab
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(DiarizationErrorRate(collar=0.25)(r, h))


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    d = tmp_path_factory.mktemp("prepcall")
    m = synth_manifest(d / "src", n_per_emotion=3)
    idx = simulate_calls(m, d / "calls", n_calls=1, seed=5, turns=(10, 10), hold_prob=0.5, overlap_prob=0.0)
    return idx.iloc[0]


def test_mono_diarization_and_roles(call):
    truth = pd.read_csv(call.csv)
    # generated voices are not speech enough for silero on a whole call: give the pipeline the true
    # speech regions (the VAD itself is tested in test_prep_vad.py and on corpus calls below)
    regions = list(zip(truth.start, truth.end))
    pc = prepare_call(call.mono, regions=regions)
    turns = pc.turns.reset_index()
    assert pc.sample_rate == 8000 and not pc.stereo
    assert pc.duration == pytest.approx(call.duration, abs=0.01)
    assert der(read_rttm(call.rttm), turns) < 0.15
    assert role_accuracy(turns, truth) > 0.85
    # silence compression happened (there are holds) yet every output is in original time
    assert pc.time_map.removed > 0
    assert turns.end.max() <= pc.duration + 1e-6
    assert abs(turns.start.min() - truth.start.min()) < 0.5
    seg = pc.segments
    assert {"speaker", "role", "channel", "overlap", "unknown"} <= set(seg.columns)
    flipped = prepare_call(call.mono, first_speaker="client", regions=regions)
    a = pc.turns.role.to_numpy()
    b = flipped.turns.reindex(pc.turns.index).role.to_numpy()
    assert (a != b).mean() > 0.9


def test_stereo_channels_are_speakers(call):
    truth = pd.read_csv(call.csv)
    per_channel = [list(zip(t.start, t.end)) for _, t in truth.groupby("channel")]
    pc = prepare_call(call.stereo, regions=per_channel)
    assert pc.stereo and pc.channel_names == ["agent", "client"]
    turns = pc.turns.reset_index()
    assert der(truth, turns, "role") < 0.06
    assert role_accuracy(turns, truth) > 0.95
    assert set(turns.channel) == {0, 1}
    assert (turns[turns.channel == 0].role == "agent").all()
    swapped = prepare_call(call.stereo, channels="client,agent", regions=per_channel)
    assert (swapped.turns.reset_index().query("channel == 0").role == "client").all()
    # segment audio comes from the speaker's own channel
    idx, x = next(pc.iter_segments())
    assert len(x) == pytest.approx((idx[2] - idx[1]) * pc.sample_rate, abs=2)


def test_arrays_silence_and_errors(tmp_path):
    from callemo.errors import CallemoError
    from callemo.io import save_audio

    pc = prepare_call(np.zeros(8000 * 5, np.float32), sr=8000)
    assert pc.segments.empty and pc.turns.empty and pc.speech == []
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(CallemoError):
        prepare_call(empty)
    same = np.stack([np.zeros(8000, np.float32)] * 2)
    p = save_audio(tmp_path / "dup.wav", same, 8000)
    assert not prepare_call(p).stereo  # identical channels = a mono call stored twice


@pytest.mark.corpus
@pytest.mark.slow
def test_ravdess_calls_end_to_end(ravdess_dir, tmp_path):
    """Two short simulated calls from RAVDESS through the real VAD + diarization."""
    from callemo.simulate.calls import corpus_manifest

    m = corpus_manifest("ravdess", ravdess_dir)
    idx = simulate_calls(m, tmp_path, n_calls=2, seed=11, turns=(8, 8))
    ders, accs = [], []
    for r in idx.itertuples():
        truth = pd.read_csv(r.csv)
        pc = prepare_call(r.mono)
        turns = pc.turns.reset_index()
        ders.append(der(read_rttm(r.rttm), turns))
        accs.append(role_accuracy(turns, truth))
        st = prepare_call(r.stereo).turns.reset_index()
        assert der(truth, st, "role") < 0.05
    assert np.mean(ders) < 0.2
    assert np.mean(accs) > 0.8


def test_an_array_too_short_to_resample_is_a_clear_error():
    # one sample at 48 kHz is no sample at the 16 kHz working rate (found by the hypothesis tests)
    from callemo.prep.call import PrepError, prepare_call

    with pytest.raises(PrepError, match=r"call\.wav: no audio samples"):
        prepare_call(np.full(1, 0.1, np.float32), 48000, file="call.wav")
