"""Temporal CNN-BiLSTM (paper 002): size, masking, sub-segments, training, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from callemo.models.base import build_model, load_model
from callemo.models.cnn_bilstm import (
    DEFAULTS,
    CNNBiLSTMModel,
    TemporalCNNBiLSTM,
    aggregate,
    subsegment_starts,
)
from callemo.models.torch_common import count_parameters

from conftest import synth_voice

torch.set_num_threads(1)

TINY = {"type": "cnn_bilstm", "sample_rate": 8000, "features": {"name": "logmel", "n_mels": 16},
        "conv_channels": [16, 16], "lstm_hidden": 8, "dense": 8, "lr": 3e-3, "epochs": 6, "patience": None,
        "batch_size": 8, "cache": False}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path / "cache"))


def _data(n_spk=4, per=3, sr=8000):
    sig, y, spk, gen = [], [], [], []
    for s in range(n_spk):
        for k, (lab, f0) in enumerate([("low", 105.0), ("high", 270.0)]):
            for r in range(per):
                sig.append(synth_voice(1.5 + 0.9 * r, sr=sr, f0=f0 + 4 * s, seed=100 * s + 10 * k + r))
                y.append(lab)
                spk.append(f"spk{s}")
                gen.append("female" if s % 2 else "male")
    return sig, y, spk, gen


def test_default_size_is_about_200k_parameters():
    n_mels = DEFAULTS["features"]["n_mels"]
    m = CNNBiLSTMModel({"type": "cnn_bilstm"})
    m.labels = ["angry", "happy", "neutral", "sad"]
    m.genders = ["female", "male"]
    n = count_parameters(m._build_net(3 * n_mels))
    assert 150_000 <= n <= 250_000, n  # paper 002: 219,062 for 4 classes
    assert m.config["lstm_hidden"] == 60 and m.config["dropout"] == 0.5


def test_zero_padding_does_not_change_a_masked_prediction():
    torch.manual_seed(0)
    net = TemporalCNNBiLSTM(24, 4, n_genders=2, conv_channels=[8, 8], lstm_hidden=6, dense=8).eval()
    x = torch.randn(1, 237, 24)  # odd length: the pooled step straddling the end must be masked too
    e1, g1 = net(x, torch.tensor([237]))
    padded = torch.cat([x, torch.zeros(1, 63, 24)], 1)
    e2, g2 = net(padded, torch.tensor([237]))
    assert torch.allclose(e1, e2, atol=1e-6) and torch.allclose(g1, g2, atol=1e-6)
    # and inside a batch of different lengths
    other = torch.randn(1, 300, 24)
    eb, _ = net(torch.cat([padded, other]), torch.tensor([237, 300]))
    assert torch.allclose(eb[0], e1[0], atol=1e-5)
    # the BiLSTM step outputs themselves are unchanged on the valid steps
    d1, m1 = net.embed(x, torch.tensor([237]))
    d2, m2 = net.embed(padded, torch.tensor([237]))
    n = int(m1.sum())
    assert int(m2.sum()) == n and torch.allclose(d1[:, :n], d2[:, :n], atol=1e-6)
    # without the mask the padding would change the output
    e3, _ = net(padded, torch.tensor([300]))
    assert not torch.allclose(e1, e3, atol=1e-4)


def test_subsegments_3s_with_1s_overlap():
    assert subsegment_starts(150, 300, 200, 25) == [0]           # 1.5 s: one padded sub-segment
    assert subsegment_starts(300, 300, 200, 25) == [0]           # exactly 3 s
    assert subsegment_starts(370, 300, 200, 25) == [0, 200]      # 3.7 s: second one padded
    assert subsegment_starts(700, 300, 200, 25) == [0, 200, 400]  # 7 s
    assert subsegment_starts(310, 300, 200, 25) == [0]           # 0.1 s new: not worth a window


def test_aggregation_rules():
    post = np.array([[0.6, 0.4], [0.6, 0.4], [0.0, 1.0], [0.9, 0.1]])
    owner = np.array([0, 0, 0, 1])
    assert aggregate(post, owner, 2, "vote")[0].argmax() == 0       # 2 votes to 1
    assert aggregate(post, owner, 2, "mean")[0].argmax() == 1       # mean 0.4 vs 0.6
    assert aggregate(post, owner, 2, "max")[0].argmax() == 1
    for how in ("vote", "mean", "max"):
        assert np.allclose(aggregate(post, owner, 2, how).sum(1), 1.0)


def test_tiny_model_trains_multitask_and_round_trips(tmp_path):
    sig, y, spk, gen = _data()
    m = build_model(dict(TINY))
    m.fit(sig, y, spk, gender=gen)
    h = m.history
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert m.genders == ["female", "male"] and m.net.gender is not None
    assert m.agg in ("vote", "mean", "max") and set(h["aggregation_scores"]) == {"vote", "mean", "max"}
    assert h["samples_per_second"] > 0
    p = m.predict_proba(sig, spk)
    assert p.shape == (len(sig), 2) and np.allclose(p.sum(1), 1)
    acc = np.mean(np.array(m.labels)[p.argmax(1)] == np.array(y))
    assert acc >= 0.75, acc
    m.save(tmp_path / "model")
    m2 = load_model(tmp_path / "model")
    assert m2.card["type"] == "cnn_bilstm" and m2.agg == m.agg
    np.testing.assert_array_equal(m2.predict_proba(sig, spk), p)
    # without speakers: global statistics from training
    pg = m2.predict_proba(sig[:3])
    assert pg.shape == (3, 2)
    # fixed seed: the same fit twice gives the same model
    m3 = build_model(dict(TINY)).fit(sig, y, spk, gender=gen)
    np.testing.assert_allclose(m3.predict_proba(sig, spk), p, atol=1e-6)


def test_trains_without_gender_and_handles_short_signals():
    sig, y, spk, _ = _data(n_spk=3, per=2)
    m = build_model({**TINY, "epochs": 2, "normalisation": "global"}).fit(sig, y, spk)
    assert m.net.gender is None and m.genders == []
    p = m.predict_proba([np.zeros(80, dtype=np.float32), sig[0][:400]])
    assert p.shape == (2, 2) and np.isfinite(p).all()


def test_cuda_requested_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    sig, y, spk, _ = _data(n_spk=2, per=1)
    from callemo.errors import CallemoError

    with pytest.raises(CallemoError, match="CUDA"):
        build_model({**TINY, "device": "cuda"}).fit(sig, y, spk)
