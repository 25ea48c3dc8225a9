"""The raw-waveform CNN-LSTM regressor (paper 000): architecture, label alignment, save/load,
padding, circumplex probabilities, other label rates (models trained by the continuous task)."""

from __future__ import annotations

import numpy as np
import torch

from callemo.models.base import load_model
from callemo.models.raw_cnn_lstm import RawCNNLSTM, RawCNNLSTMModel, frames_to_labels, instance_norm
from callemo.train.continuous import fit_continuous
from helpers.continuous import traced_voices as _data

SR = 8000
TINY = {"type": "raw_cnn_lstm", "sample_rate": SR, "conv_channels": [8, 12, 12], "lstm_hidden": 16,
        "mlp": [24, 16], "segment_length": 4.0, "batch_duration": 8.0, "lr": 1e-2, "epochs": 8,
        "label_hop": 0.5, "threads": 1, "seed": 0, "clip": 1.0}


def test_paper_architecture_shapes():
    net = RawCNNLSTM(n_out=4)
    assert [m.out_channels for m in net.conv if isinstance(m, torch.nn.Conv1d)] == [50, 125, 125]
    assert [m.kernel_size[0] for m in net.conv if isinstance(m, torch.nn.Conv1d)] == [8, 6, 6]
    assert net.hop == 250  # 10 * 5 * 5 samples: 32 frames/s at 8 kHz, 64 at 16 kHz
    assert net.lstm.hidden_size == 256 and net.lstm.num_layers == 2 and net.lstm.dropout == 0.5
    assert [m.out_features for m in net.mlp if isinstance(m, torch.nn.Linear)] == [512, 256, 4]
    assert net.features(torch.zeros(2, SR * 3 + 100)).shape == (2, 96, 125)
    y, _ = net(torch.zeros(2, SR * 3 + 100), 6, 0.5, SR)  # LSTM + MLP at the label rate
    assert y.shape == (2, 6, 4)


def test_frames_to_labels_alignment():
    frame_hop = 250 / SR  # 31.25 ms
    n = 320  # 10 s of frames
    centres = (torch.arange(n) + 0.5) * frame_hop
    f = centres[None, :, None].clone()
    for hop in (0.5, 0.2, 0.1, 0.04):
        m = int(10 / hop)
        y = frames_to_labels(f, m, frame_hop, hop)[0, :, 0]
        t = torch.arange(m) * hop
        # away from the first label (half a window before t = 0), each label is its own time
        assert torch.allclose(y[1:], t[1:], atol=frame_hop / 2 + 1e-6), hop
    # label rate above the frame rate: linear interpolation between frame centres
    y = frames_to_labels(f, 900, frame_hop, 0.01)[0, :, 0]
    t = torch.arange(900) * 0.01
    assert torch.allclose(y[5:], t[5:], atol=1e-5)


def test_save_load_identical_predictions(tmp_path):
    sigs, traces = _data(n=3, dur=5.0)
    m = fit_continuous(RawCNNLSTMModel(dict(TINY, epochs=1)), sigs, traces)
    before = m.predict_curves(sigs)
    m.save(tmp_path / "m")
    m2 = load_model(tmp_path / "m")
    assert isinstance(m2, RawCNNLSTMModel)
    after = m2.predict_curves(sigs)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.predict_dimensions(sigs), m2.predict_dimensions(sigs))
    assert m2.labels == ["angry", "happy", "neutral", "sad"]
    np.testing.assert_array_equal(m.predict_proba(sigs), m2.predict_proba(sigs))


def test_zero_padding_does_not_change_earlier_predictions():
    sigs, traces = _data(n=2, dur=5.0)
    m = fit_continuous(RawCNNLSTMModel(dict(TINY, epochs=1, normalise="none")), sigs, traces)
    x = sigs[0]
    a = m.predict_curves([x])[0]
    b = m.predict_curves([np.concatenate([x, np.zeros(3 * SR, np.float32)])])[0]
    # the LSTM is causal: trailing zeros only add label steps; the first ones are unchanged
    # (the last label window of x is cut off at the end of x, so it may differ)
    np.testing.assert_allclose(a[:-1], b[: len(a) - 1], atol=1e-5)
    assert len(b) == len(a) + 6


def test_predict_proba_through_the_circumplex():
    sigs, traces = _data(n=3, dur=4.0)
    m = fit_continuous(RawCNNLSTMModel(dict(TINY, epochs=1)), sigs, traces)
    p = m.predict_proba(sigs)
    assert p.shape == (3, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # the most probable category is the one whose circumplex point is nearest to (valence, arousal)
    from callemo.labels.schemes import CIRCUMPLEX

    d = m.predict_dimensions(sigs)
    pts = np.array([CIRCUMPLEX[k] for k in m.labels])
    nearest = ((d[:, None] - pts[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(p.argmax(1), nearest)


def test_other_label_rate_is_interpolated_from_the_training_rate():
    sigs, traces = _data(n=2, dur=5.0)
    m = fit_continuous(RawCNNLSTMModel(dict(TINY, epochs=1)), sigs, traces)
    c = m.predict_curves(sigs[:1])[0]                    # 0.5 s
    f = m.predict_curves(sigs[:1], label_hop=0.25)[0]    # 0.25 s
    assert len(f) == 20 and len(c) == 10
    np.testing.assert_allclose(f[::2], c, atol=1e-6)
    np.testing.assert_allclose(f[1:-1:2], (c[:-1] + c[1:]) / 2, atol=1e-6)


def test_instance_level_feature_norm_adds_the_recording_level():
    net = RawCNNLSTM(n_out=2, conv_channels=(8, 12, 12), lstm_hidden=16, mlp=(16,), feature_norm="instance_level")
    assert net.lstm.input_size == 3 * 12  # standardised features + per-recording means and log-sds
    x = torch.randn(2, SR * 3)
    y, _ = net(x, 6, 0.5, SR)
    assert y.shape == (2, 6, 2)
    # the standardised part alone is blind to a change of the features' level; the level part is not
    h = torch.rand(1, 10, 4)
    a, b = instance_norm(h, with_level=True), instance_norm(h * 3 + 1, with_level=True)
    torch.testing.assert_close(a[..., :4], b[..., :4], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(a[..., 4:], b[..., 4:])
    sigs, traces = _data(n=2, dur=5.0)
    m = fit_continuous(RawCNNLSTMModel(dict(TINY, epochs=1, feature_norm="instance_level")), sigs, traces)
    assert m.predict_curves(sigs)[0].shape[1] == 2
