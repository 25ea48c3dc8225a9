"""The raw-waveform CNN-LSTM regressor (paper 000): architecture, label alignment, a tiny training
run on CPU, save/load, padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from callemo.models.base import build_model, load_model
from callemo.models.raw_cnn_lstm import RawCNNLSTM, RawCNNLSTMModel, frames_to_labels, score_curves

from conftest import synth_voice

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


def _data(n=6, dur=8.0, seed=0):
    """Signals whose loudness follows a slow envelope; the 'arousal' trace is that envelope, the
    'valence' trace a function of the pitch; both at 2 Hz."""
    rng = np.random.default_rng(seed)
    sigs, traces = [], []
    for i in range(n):
        f0 = 110 + 60 * (i % 3)
        x = synth_voice(dur, sr=SR, f0=f0, seed=i)
        t = np.arange(len(x)) / SR
        env = 0.15 + 0.85 * (0.5 + 0.5 * np.sin(2 * np.pi * t / rng.uniform(3, 6) + rng.uniform(0, 6)))
        x = (x * env).astype(np.float32)
        tl = np.arange(int(np.ceil(dur / 0.5))) * 0.5
        aro = np.interp(tl, t, env) * 2 - 1
        val = np.full_like(tl, (f0 - 170) / 60)
        sigs.append(x)
        traces.append(np.stack([val, aro], 1).astype(np.float32))
    return sigs, traces


def test_tiny_model_trains_and_loss_goes_down():
    sigs, traces = _data()
    m = build_model(dict(TINY))
    assert isinstance(m, RawCNNLSTMModel)
    m.fit(sigs, traces=traces, context=[0.1 * i for i in range(6)], gender=["m", "f"] * 3)
    loss = m.history["train_loss"]
    assert len(loss) == 8
    assert min(loss[-2:]) < loss[0] - 0.1, loss
    curves = m.predict_curves(sigs[:2])
    assert curves[0].shape == (16, 2)
    dims = m.predict_dimensions(sigs[:2])
    assert dims.shape == (2, 2) and np.all(np.abs(dims) <= 1)
    assert m.history["audio_seconds_per_second"] > 0


def test_multitask_heads_and_validation(tmp_path):
    sigs, traces = _data(n=4, dur=6.0)
    cfg = dict(TINY, alpha=0.1, beta=0.01, epochs=2)
    m = RawCNNLSTMModel(cfg)
    m.fit(sigs[:3], traces=traces[:3], context=[0.0, 0.5, -0.5], gender=["m", "f", "?"],
          valid={"signals": sigs[3:], "traces": traces[3:]})
    assert m.outputs == ["valence", "arousal", "context", "gender"]
    assert len(m.history["val_score"]) == 2
    aux = m.predict_curves(sigs[:1], with_aux=True)[0]
    assert aux.shape[1] == 4


def test_save_load_identical_predictions(tmp_path):
    sigs, traces = _data(n=3, dur=5.0)
    m = RawCNNLSTMModel(dict(TINY, epochs=1)).fit(sigs, traces=traces)
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
    m = RawCNNLSTMModel(dict(TINY, epochs=1, normalise="none")).fit(sigs, traces=traces)
    x = sigs[0]
    a = m.predict_curves([x])[0]
    b = m.predict_curves([np.concatenate([x, np.zeros(3 * SR, np.float32)])])[0]
    # the LSTM is causal: trailing zeros only add label steps; the first ones are unchanged
    # (the last label window of x is cut off at the end of x, so it may differ)
    np.testing.assert_allclose(a[:-1], b[: len(a) - 1], atol=1e-5)
    assert len(b) == len(a) + 6


def test_score_curves_pooled_ccc():
    g = [np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]), np.array([[1.0, 0.0], [0.0, 1.0]])]
    s = score_curves(g, g)
    assert s["ccc_valence"] == pytest.approx(1.0, abs=1e-6) and s["ccc_arousal"] == pytest.approx(1.0, abs=1e-6)


def test_needs_traces():
    from callemo.models.base import ModelError

    with pytest.raises(ModelError):
        RawCNNLSTMModel(dict(TINY)).fit([np.zeros(SR, np.float32)])
    with pytest.raises(ModelError):
        RawCNNLSTMModel(dict(TINY)).predict_curves([np.zeros(SR, np.float32)])  # not trained


def test_predict_proba_through_the_circumplex():
    sigs, traces = _data(n=3, dur=4.0)
    m = RawCNNLSTMModel(dict(TINY, epochs=1)).fit(sigs, traces=traces)
    p = m.predict_proba(sigs)
    assert p.shape == (3, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # the most probable category is the one whose circumplex point is nearest to (valence, arousal)
    from callemo.labels.schemes import CIRCUMPLEX

    d = m.predict_dimensions(sigs)
    pts = np.array([CIRCUMPLEX[k] for k in m.labels])
    nearest = ((d[:, None] - pts[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(p.argmax(1), nearest)


def test_optuna_search_alpha_beta_tiny():
    from callemo.models.raw_cnn_lstm import search_alpha_beta

    sigs, traces = _data(n=4, dur=5.0)
    ctx = [0.0, 0.3, -0.3, 0.1]
    gen = ["m", "f", "m", "f"]
    tr = {"signals": sigs[:3], "traces": traces[:3], "context": ctx[:3], "gender": gen[:3]}
    va = {"signals": sigs[3:], "traces": traces[3:]}
    best, value, trials = search_alpha_beta(dict(TINY, epochs=1), tr, va, n_trials=2, seed=0)
    assert len(trials) == 2 and set(best) == {"alpha", "beta"}
    assert 1e-3 <= best["alpha"] <= 1 and value == max(t["value"] for t in trials)


def test_other_label_rate_is_interpolated_from_the_training_rate():
    sigs, traces = _data(n=2, dur=5.0)
    m = RawCNNLSTMModel(dict(TINY, epochs=1)).fit(sigs, traces=traces)
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
    from callemo.models.raw_cnn_lstm import instance_norm
    h = torch.rand(1, 10, 4)
    a, b = instance_norm(h, with_level=True), instance_norm(h * 3 + 1, with_level=True)
    torch.testing.assert_close(a[..., :4], b[..., :4], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(a[..., 4:], b[..., 4:])
    sigs, traces = _data(n=2, dur=5.0)
    m = RawCNNLSTMModel(dict(TINY, epochs=1, feature_norm="instance_level")).fit(sigs, traces=traces)
    assert m.predict_curves(sigs)[0].shape[1] == 2
