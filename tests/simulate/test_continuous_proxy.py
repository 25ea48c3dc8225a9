"""The proxy continuous corpus: two annotators, lag, 2 Hz, [-1000, 1000], gold = mean, determinism,
on a small manifest of generated voices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from callemo.labels.continuous import read_continuous
from callemo.simulate.continuous_proxy import Annotator, annotate, build_proxy, latent_trace, load_proxy
from helpers.voices import synth_voice

EMOTIONS = {"neutral": (140, 0.2), "happy": (220, 0.5), "angry": (200, 0.8), "sad": (110, 0.08),
            "calm": (130, 0.12), "fearful": (240, 0.4)}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth_corpus")
    rows = []
    for s, (spk, gender) in enumerate([("syn_a", "f"), ("syn_b", "m")]):
        for e, (f0, level) in EMOTIONS.items():
            for k in range(2):
                x = synth_voice(1.2 + 0.2 * k, sr=16000, f0=f0 * (0.8 if gender == "m" else 1.0), seed=10 * s + k,
                                level=level)
                x = np.concatenate([np.zeros(1600, np.float32), x, np.zeros(1600, np.float32)])
                p = d / f"{spk}_{e}_{k}.wav"
                sf.write(p, x, 16000)
                rows.append({"path": str(p), "start": np.nan, "end": np.nan, "speaker": spk, "emotion": e,
                             "gender": gender, "corpus": "synth", "language": "xx",
                             "intensity": "strong" if k else "normal"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def proxy(manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("proxy")
    return build_proxy(manifest, out, recordings_per_speaker=2, duration=(10.0, 14.0), seed=3)


def test_files_and_columns(proxy):
    d = proxy.directory
    ann = pd.read_csv(d / "annotations.csv")
    assert list(ann.columns) == ["file", "time", "annotator", "valence", "arousal"]
    rec = pd.read_csv(d / "recordings.csv")
    assert len(rec) == 4
    for col in ("file", "path", "duration", "speaker", "gender", "corpus", "empathy", "engagement", "arc"):
        assert col in rec.columns
    for _, r in rec.iterrows():
        info = sf.info(d / r["path"])
        assert info.samplerate == 8000
        assert info.frames / 8000 == pytest.approx(r["duration"], abs=1e-2)
        assert 10.0 <= r["duration"] <= 14.0 + 4.0  # the last utterance may overrun the drawn length
        assert 0 <= r["empathy"] <= 10
    utt = pd.read_csv(d / "utterances.csv")
    # one speaker per recording: every source file of a recording belongs to that speaker
    spk = rec.set_index("file")["speaker"]
    for f, g in utt.groupby("file"):
        assert all(spk[f] in p for p in g["source"])
        assert (g["start"].diff().dropna() > 0).all()


def test_two_annotators_2hz_scale(proxy):
    ann = pd.read_csv(proxy.directory / "annotations.csv")
    assert ann["valence"].dtype.kind == "i" and ann["arousal"].dtype.kind == "i"
    assert ann[["valence", "arousal"]].abs().max().max() <= 1000
    assert ann[["valence", "arousal"]].abs().max().max() > 100  # the scale is [-1000, 1000], not [-1, 1]
    dur = proxy.recordings.set_index("file")["duration"]
    for (f, _a), g in ann.groupby(["file", "annotator"]):
        t = g["time"].to_numpy()
        np.testing.assert_allclose(np.diff(t), 0.5)  # 2 Hz
        assert t[0] == 0.0 and t[-1] <= dur[f] and t[-1] > dur[f] - 0.5
    assert ann.groupby("file")["annotator"].nunique().eq(2).all()
    # the two annotators agree but are not identical (noise, bias, own lag)
    w = ann.pivot_table(index=["file", "time"], columns="annotator", values=["valence", "arousal"])
    for d in ("valence", "arousal"):
        assert not np.array_equal(w[d].iloc[:, 0], w[d].iloc[:, 1])
        assert np.corrcoef(w[d].iloc[:, 0], w[d].iloc[:, 1])[0, 1] > 0.5, d


def test_read_back_and_gold_is_mean(proxy):
    ann = read_continuous(proxy.directory / "annotations.csv")
    assert ann[["valence", "arousal"]].abs().max().max() <= 1.0
    back = load_proxy(proxy.directory)
    gold = back.gold(2.0)
    f = back.recordings["file"].iloc[0]
    w = ann[ann["file"] == f].pivot(index="time", columns="annotator", values="valence")
    g = gold[gold["file"] == f].set_index("time")["valence"]
    np.testing.assert_allclose(g.to_numpy(), w.mean(axis=1).to_numpy(), atol=1e-6)
    assert len(back.signal(f)) > 0


def test_traces_follow_the_circumplex(proxy):
    # high-arousal emotions (angry, fearful, happy) raise the arousal trace a few seconds later
    ann = proxy.annotations
    utt = proxy.utterances
    hi, lo = [], []
    for _, u in utt.iterrows():
        g = ann[(ann["file"] == u["file"]) & (ann["time"] >= u["start"] + 3.5) & (ann["time"] <= u["end"] + 3.5)]
        if len(g):
            (hi if u["arousal"] > 0.3 else lo).append(g["arousal"].mean())
    assert hi and lo and np.mean(hi) > np.mean(lo) + 0.2


def test_lag_and_smoothing_of_an_annotator():
    # a step from (0, 0) to (0.8, -0.5) at t = 5 s, a noiseless annotator with a 3 s lag
    t, lat = latent_trace([(5.0, 8.0, 0.8, -0.5)], 20.0)
    ann = Annotator("A", lag=3.0, tau=1.0, drift_sd=0.0, jitter_sd=0.0)
    tr = annotate(t, lat, ann, np.random.default_rng(0))
    assert np.allclose(np.diff(tr["time"]), 0.5) and tr["time"].iloc[-1] == 20.0
    before = tr[tr["time"] < 8.0]
    assert np.abs(before[["valence", "arousal"]].to_numpy()).max() < 1e-9  # nothing before 5 + 3 s
    # exponential approach: 1 - exp(-1) of the step one tau after the lagged onset
    v9 = float(tr.loc[tr["time"] == 9.0, "valence"].iloc[0])
    assert v9 == pytest.approx(0.8 * (1 - np.exp(-1.0)), abs=0.03)
    assert float(tr["valence"].iloc[-1]) == pytest.approx(0.8, abs=0.01)  # held through the pause
    assert float(tr["arousal"].iloc[-1]) == pytest.approx(-0.5, abs=0.01)


def test_deterministic(manifest, tmp_path):
    a = build_proxy(manifest, tmp_path / "a", recordings_per_speaker=1, duration=(8.0, 9.0), seed=7)
    b = build_proxy(manifest, tmp_path / "b", recordings_per_speaker=1, duration=(8.0, 9.0), seed=7)
    assert (tmp_path / "a" / "annotations.csv").read_text() == (tmp_path / "b" / "annotations.csv").read_text()
    for f in a.signals:
        np.testing.assert_array_equal(a.signals[f], b.signals[f])
    c = build_proxy(manifest, None, recordings_per_speaker=1, duration=(8.0, 9.0), seed=8, write_audio=False)
    assert not a.annotations.equals(c.annotations)


def test_cli_train_and_predict_on_the_proxy(proxy, tmp_path):
    """continuous-train on a proxy folder (tiny network, 1 epoch), then continuous-predict."""
    import yaml
    from typer.testing import CliRunner

    import callemo.cli.continuous  # noqa: F401  (registers the commands)
    from callemo.cli.app import app

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({"type": "raw_cnn_lstm", "conv_channels": [4, 6, 6], "lstm_hidden": 8,
                                   "mlp": [8, 8], "segment_length": 8.0, "batch_duration": 16.0,
                                   "epochs": 1, "feature_norm": "instance", "threads": 1}))
    r = CliRunner().invoke(app, ["continuous-train", str(proxy.directory), "-o", str(tmp_path / "m"),
                                 "-c", str(cfg), "--valid-fraction", "0.5"])
    assert r.exit_code == 0, r.output
    wav = proxy.directory / proxy.recordings["path"].iloc[0]
    r = CliRunner().invoke(app, ["continuous-predict", str(tmp_path / "m"), str(wav), "-o", str(tmp_path / "c.csv")])
    assert r.exit_code == 0, r.output
    c = pd.read_csv(tmp_path / "c.csv")
    assert list(c.columns) == ["file", "time", "valence", "arousal"]
    np.testing.assert_allclose(np.diff(c["time"]), 0.5)
    assert c[["valence", "arousal"]].abs().max().max() <= 1.0
    r = CliRunner().invoke(app, ["continuous-train", str(tmp_path), "-o", str(tmp_path / "m2")])
    assert r.exit_code == 2 and "recordings.csv" in r.output
