"""Temporal CNN-BiLSTM (paper 002): size, masking, sub-segments, training, persistence."""

from __future__ import annotations

import numpy as np
import torch

from callemo.models.cnn_bilstm import (
    DEFAULTS,
    CNNBiLSTMModel,
    TemporalCNNBiLSTM,
    aggregate,
    subsegment_starts,
)
from callemo.models.torch_common import count_parameters

torch.set_num_threads(1)

def test_default_size_is_about_200k_parameters():
    n_mels = DEFAULTS["features"]["n_mels"]
    m = CNNBiLSTMModel({"type": "cnn_bilstm"})
    m.labels = ["angry", "happy", "neutral", "sad"]
    m.genders = ["female", "male"]
    n = count_parameters(m.build_net(3 * n_mels))
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


def test_features_come_from_the_project_logmel_extractor():
    from callemo.features.logmel import LogMelExtractor

    m = CNNBiLSTMModel({"type": "cnn_bilstm", "sample_rate": 8000, "features": {"name": "logmel", "n_mels": 16}})
    assert isinstance(m.extractor, LogMelExtractor)
    assert m.extractor.params()["n_mels"] == 16 and m.extractor.params()["sample_rate"] == 8000
