import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from callemo.io import load_segment
from callemo.simulate.calls import (
    LEVEL_DBFS,
    WORK_SR,
    SimulationError,
    _as_manifest,
    active_level_db,
    read_rttm,
    simulate_call,
    simulate_calls,
    speech_bounds,
)
from helpers.callsynth import synth_manifest


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
    _, idx = sim
    for r in idx.itertuples():
        truth = pd.read_csv(r.csv)
        rttm = read_rttm(r.rttm)
        assert len(rttm) == len(truth)
        assert np.allclose(np.sort(rttm.start), np.sort(truth.start), atol=1e-3)
        assert set(truth.columns) >= {"file", "start", "end", "speaker", "role", "emotion", "source", "turn",
                                      "backchannel"}
        assert truth.sort_values("start").role.iloc[0] == "agent"  # the agent answers
        xs, sr = sf.read(r.stereo)
        for ch, role in ((0, "agent"), (1, "client")):
            sig = xs[:, ch]
            mask = np.zeros(len(sig), bool)
            for t in truth[truth.role == role].itertuples():
                mask[int(t.start * sr) : int(t.end * sr)] = True
            floor = _noise_floor(sig, truth[truth.role == role], sr)
            for t in truth[truth.role == role].itertuples():
                # each truth segment holds speech: near the call's SNR above the channel's floor
                seg = sig[int(t.start * sr) : int(t.end * sr)]
                assert np.mean(seg**2) > 10 ** ((r.snr_db - 10) / 10) * floor, (r.call, role, t.start)
            # truth marks the speech, silence is left out
            assert np.mean(sig[mask] ** 2) > 10 ** ((r.snr_db - 5) / 10) * floor
        # the mono mix is the sum of the channels' speech: speech where the truth says so
        x, _ = sf.read(r.mono)
        mask = np.zeros(len(x), bool)
        for t in truth.itertuples():
            mask[int(t.start * sr) : int(t.end * sr)] = True
        assert np.mean(x[mask] ** 2) > 10 ** ((r.snr_db - 5) / 10) * _noise_floor(x, truth, sr)


def _noise_floor(sig: np.ndarray, truth: pd.DataFrame, sr: int, away: float = 0.4) -> float:
    """Mean power at least ``away`` seconds from every reference turn (the clip keeps some of the
    source's own silence, and the soft edges the VAD leaves out, around each turn)."""
    near = np.zeros(len(sig), bool)
    for t in truth.itertuples():
        near[max(0, int((t.start - away) * sr)) : int((t.end + away) * sr)] = True
    return float(np.mean(np.asarray(sig, np.float64)[~near] ** 2))


def test_long_holds_and_overlap_present(tmp_path):
    m = synth_manifest(tmp_path / "src", n_per_emotion=2)
    idx = simulate_calls(m, tmp_path / "c", n_calls=1, seed=0, turns=(12, 12), hold_prob=0.4, overlap_prob=0.4,
                         stereo=False)
    truth = pd.read_csv(idx.csv[0]).sort_values("start")
    truth = truth[~truth.backchannel]
    gaps = truth.start.to_numpy()[1:] - np.maximum.accumulate(truth.end.to_numpy())[:-1]
    assert gaps.max() > 4.0          # a hold
    assert (gaps < 0).any()          # an overlap
    assert idx.stereo[0] == "" or pd.isna(idx.stereo[0])


def test_bad_manifest(tmp_path):
    with pytest.raises(SimulationError):
        simulate_calls(pd.DataFrame({"path": ["a.wav"], "speaker": ["x"], "emotion": ["neutral"]}), tmp_path, 1)
    with pytest.raises(SimulationError):
        simulate_calls(pd.DataFrame({"path": ["a.wav"]}), tmp_path, 1)
    m = pd.DataFrame({"path": ["a.wav"], "speaker": ["x"], "emotion": ["neutral"]})
    with pytest.raises(SimulationError, match="mp3_share"):
        simulate_calls(m, tmp_path, 1, mp3_share=1.5)


# ----------------------------------------------------------------------------- realistic calls (issue 9), real speech

N_CALLS = 6


@pytest.fixture(scope="module")
def ravdess_small():
    """Four RAVDESS actors (two male, two female), the four classes of the default model."""
    from callemo.corpora import build_manifest
    from callemo.labels.schemes import apply_setting
    from helpers.corpora import corpus_dir

    m = apply_setting(build_manifest("ravdess", corpus_dir("ravdess")), "4class")
    m = m[m.speaker.isin(["ravdess_01", "ravdess_03", "ravdess_02", "ravdess_04"])]
    return m[m.intensity == "normal"].reset_index(drop=True)


@pytest.fixture(scope="module")
def real_calls(ravdess_small, tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    idx = simulate_calls(ravdess_small, out, n_calls=N_CALLS, seed=7, turns=(12, 16), mp3_share=0.5,
                         same_gender_share=0.5, hold_prob=0.0)
    truths = {r.call: pd.read_csv(r.csv) for r in idx.itertuples()}
    return idx, truths


def _turns(truth: pd.DataFrame) -> pd.DataFrame:
    main = truth[~truth.backchannel]
    return main.groupby("turn").agg(role=("role", "first"), emotion=("emotion", "first"), start=("start", "min"),
                                    end=("end", "max")).sort_values("start")


def test_agent_mostly_neutral_client_emotional(real_calls):
    _, truths = real_calls
    for call, truth in truths.items():
        turns = _turns(truth)
        agent = turns[turns.role == "agent"]
        assert (agent.emotion == "neutral").mean() >= 0.8, call
        client = turns[turns.role == "client"]
        assert len(client) >= 2 and (client.emotion != "neutral").any(), call
    # a few agent turns are not neutral (the agent is not a constant)
    assert any((_turns(t).query("role == 'agent'").emotion != "neutral").any() for t in truths.values())


def test_same_gender_share_matches_speakers(real_calls, ravdess_small):
    idx, _ = real_calls
    gender = ravdess_small.groupby("speaker").gender.first()
    assert idx.same_gender.mean() >= 0.5
    assert (~idx.same_gender).any()  # both kinds when the manifest has both genders
    for r in idx.itertuples():
        ga, gc = gender[r.agent.split(":")[-1]], gender[r.client.split(":")[-1]]
        assert (ga == gc) == r.same_gender and r.agent != r.client


def test_gaps_overlaps_backchannels_and_turn_taking(real_calls):
    _, truths = real_calls
    changes, overlaps, continued, backchannels = 0, 0, 0, 0
    for truth in truths.values():
        turns = _turns(truth)
        for (_, prev), (_, nxt) in zip(turns.iloc[:-1].iterrows(), turns.iloc[1:].iterrows()):
            gap = nxt.start - prev.end
            if nxt.role == prev.role:
                continued += 1
                assert 0.1 - 2e-3 <= gap <= 1.5 + 2e-3
                continue
            changes += 1
            if gap < 0:
                overlaps += 1
                assert gap >= -0.8 - 2e-3
            else:
                assert 0.1 - 2e-3 <= gap <= 1.5 + 2e-3, gap
        bc = truth[truth.backchannel]
        backchannels += len(bc)
        for b in bc.itertuples():
            assert b.end - b.start < 0.7
            host = turns.loc[b.turn]
            assert host.role != b.role and host.start <= b.start and b.end <= host.end
    assert 0.05 <= overlaps / changes <= 0.3, (overlaps, changes)
    assert continued > 0  # turns do not strictly alternate
    assert backchannels > 0


def test_levels_per_speaker(ravdess_small):
    df = _as_manifest(ravdess_small)
    rng = np.random.default_rng(1)
    for _ in range(3):
        tracks, truth = simulate_call(df[df._spk == "ravdess:ravdess_01"], df[df._spk == "ravdess:ravdess_02"], rng,
                                      n_turns=8, backchannel_prob=0.0, overlap_prob=0.0)
        for _, g in truth.groupby("role"):
            level = g.level_dbfs.iloc[0]
            assert LEVEL_DBFS[0] <= level <= LEVEL_DBFS[1] and g.level_dbfs.nunique() == 1
            for r in g.itertuples():
                seg = tracks[r.channel][int(r.start * WORK_SR) : int(r.end * WORK_SR)]
                assert abs(active_level_db(seg, WORK_SR) - level) < 0.5


def test_reference_bounds_come_from_vad_on_clean_source(real_calls):
    _, truths = real_calls
    truth = pd.concat(truths.values())
    main = truth[~truth.backchannel].drop_duplicates("source").head(12)
    for r in main.itertuples():
        x = load_segment(r.source, None, None, WORK_SR)
        a, b = speech_bounds(x, WORK_SR)
        assert abs(r.source_start - a / WORK_SR) < 2e-3 and abs(r.source_end - b / WORK_SR) < 2e-3
        assert abs((r.end - r.start) - (b - a) / WORK_SR) < 2e-3
        # RAVDESS clips carry about a second of silence: the reference is not the clip length
        assert (b - a) / WORK_SR < len(x) / WORK_SR - 0.5


def test_line_snr_and_mp3_storage(real_calls):
    idx, truths = real_calls
    assert (idx.storage == "mp3").sum() == N_CALLS // 2
    for r in idx.itertuples():
        assert 15.0 <= r.snr_db <= 35.0
        info = sf.info(r.stereo)
        assert info.samplerate == 8000 and info.channels == 2
        if r.storage == "mp3":
            assert r.mono.endswith(".mp3") and r.stereo.endswith(".mp3")
            for p in (r.mono, r.stereo):
                kbps = 8 * __import__("os").path.getsize(p) / r.duration / 1000
                assert 14.0 <= kbps <= 18.0, kbps
            continue
        xs, sr = sf.read(r.stereo)
        truth = truths[r.call]
        for ch, role in ((0, "agent"), (1, "client")):
            sig = xs[:, ch].astype(np.float64)
            speech = np.zeros(len(sig), bool)
            for t in truth[truth.role == role].itertuples():
                speech[int(t.start * sr) : int(t.end * sr)] = True
            noise = _noise_floor(sig, truth[truth.role == role], sr)
            snr = 10 * np.log10((np.mean(sig[speech] ** 2) - noise) / noise)
            # the SNR is relative to the speaker's speech (pauses inside turns lower the measure a little)
            assert r.snr_db - 3.0 <= snr <= r.snr_db + 1.0, (r.call, role, snr, r.snr_db)
