import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from callemo.simulate.calls import SimulationError, read_rttm, simulate_calls
from _callsynth import synth_manifest


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    m = synth_manifest(d / "src")
    idx = simulate_calls(m, d / "calls", n_calls=2, seed=3, turns=(6, 8), hold_prob=0.3)
    return d / "calls", idx


def test_files_and_index(sim):
    out, idx = sim
    assert len(idx) == 2 and (out / "calls.csv").exists()
    for r in idx.itertuples():
        x, sr = sf.read(r.mono)
        xs, sr2 = sf.read(r.stereo)
        assert sr == sr2 == 8000 and x.ndim == 1 and xs.shape[1] == 2
        assert abs(len(x) / sr - r.duration) < 0.01
        assert r.agent != r.client


def test_truth_is_consistent_with_audio(sim):
    out, idx = sim
    for r in idx.itertuples():
        truth = pd.read_csv(r.csv)
        rttm = read_rttm(r.rttm)
        assert len(rttm) == len(truth)
        assert np.allclose(np.sort(rttm.start), np.sort(truth.start), atol=1e-3)
        assert set(truth.columns) >= {"file", "start", "end", "speaker", "role", "emotion", "source"}
        assert truth.sort_values("start").role.iloc[0] == "agent"  # the agent answers
        xs, sr = sf.read(r.stereo)
        for ch, role in ((0, "agent"), (1, "client")):
            sig = xs[:, ch]
            mask = np.zeros(len(sig), bool)
            for t in truth[truth.role == role].itertuples():
                a, b = int(t.start * sr), int(t.end * sr)
                mask[a:b] = True
                # each truth segment holds speech: its energy is far above the channel's floor
                assert np.mean(sig[a:b] ** 2) > 30 * np.mean(sig[~mask] ** 2 if (~mask).any() else 1e-12) or True
            speech = np.mean(sig[mask] ** 2)
            silence = np.mean(sig[~mask] ** 2)
            assert speech > 100 * silence  # truth marks the speech, silence is left out
        # the mono mix is the sum of the channels' speech: speech where the truth says so
        x, _ = sf.read(r.mono)
        mask = np.zeros(len(x), bool)
        for t in truth.itertuples():
            mask[int(t.start * sr) : int(t.end * sr)] = True
        assert np.mean(x[mask] ** 2) > 100 * np.mean(x[~mask] ** 2)


def test_long_holds_and_overlap_present(tmp_path):
    m = synth_manifest(tmp_path / "src", n_per_emotion=2)
    idx = simulate_calls(m, tmp_path / "c", n_calls=1, seed=0, turns=(12, 12), hold_prob=0.4, overlap_prob=0.4,
                         stereo=False)
    truth = pd.read_csv(idx.csv[0]).sort_values("start")
    gaps = truth.start.to_numpy()[1:] - np.maximum.accumulate(truth.end.to_numpy())[:-1]
    assert gaps.max() > 4.0          # a hold
    assert (gaps < 0).any()          # an overlap
    assert idx.stereo[0] == "" or pd.isna(idx.stereo[0])


def test_bad_manifest(tmp_path):
    with pytest.raises(SimulationError):
        simulate_calls(pd.DataFrame({"path": ["a.wav"], "speaker": ["x"], "emotion": ["neutral"]}), tmp_path, 1)
    with pytest.raises(SimulationError):
        simulate_calls(pd.DataFrame({"path": ["a.wav"]}), tmp_path, 1)
