"""The continuous regressor's training task (paper 000): a tiny run on CPU, multitask heads and
validation, the scoring, the Optuna search of the multitask weights."""

from __future__ import annotations

import numpy as np
import pytest

from callemo.evaluate.continuous import score_curves
from callemo.models.base import ModelError, build_model
from callemo.models.raw_cnn_lstm import RawCNNLSTMModel
from callemo.train.continuous import fit_continuous
from callemo.train.tasks import fit_model
from helpers.continuous import SR
from helpers.continuous import traced_voices as _data

TINY = {"type": "raw_cnn_lstm", "sample_rate": SR, "conv_channels": [8, 12, 12], "lstm_hidden": 16,
        "mlp": [24, 16], "segment_length": 4.0, "batch_duration": 8.0, "lr": 1e-2, "epochs": 8,
        "label_hop": 0.5, "threads": 1, "seed": 0, "clip": 1.0}


def test_tiny_model_trains_and_loss_goes_down():
    sigs, traces = _data()
    m = build_model(dict(TINY))
    assert isinstance(m, RawCNNLSTMModel)
    fit_model(m, sigs, traces, context=[0.1 * i for i in range(6)], gender=["m", "f"] * 3)
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
    fit_continuous(m, sigs[:3], traces[:3], context=[0.0, 0.5, -0.5], gender=["m", "f", "?"],
                   valid={"signals": sigs[3:], "traces": traces[3:]})
    assert m.outputs == ["valence", "arousal", "context", "gender"]
    assert len(m.history["val_score"]) == 2
    aux = m.predict_curves(sigs[:1], with_aux=True)[0]
    assert aux.shape[1] == 4


def test_score_curves_pooled_ccc():
    g = [np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]), np.array([[1.0, 0.0], [0.0, 1.0]])]
    s = score_curves(g, g)
    assert s["ccc_valence"] == pytest.approx(1.0, abs=1e-6) and s["ccc_arousal"] == pytest.approx(1.0, abs=1e-6)


def test_needs_traces():
    with pytest.raises(ModelError):
        fit_continuous(RawCNNLSTMModel(dict(TINY)), [np.zeros(SR, np.float32)], None)
    with pytest.raises(ModelError):
        RawCNNLSTMModel(dict(TINY)).predict_curves([np.zeros(SR, np.float32)])  # not trained


def test_optuna_search_alpha_beta_tiny():
    from callemo.train.search import search_alpha_beta

    sigs, traces = _data(n=4, dur=5.0)
    ctx = [0.0, 0.3, -0.3, 0.1]
    gen = ["m", "f", "m", "f"]
    tr = {"signals": sigs[:3], "traces": traces[:3], "context": ctx[:3], "gender": gen[:3]}
    va = {"signals": sigs[3:], "traces": traces[3:]}
    best, value, trials = search_alpha_beta(dict(TINY, epochs=1), tr, va, n_trials=2, seed=0)
    assert len(trials) == 2 and set(best) == {"alpha", "beta"}
    assert 1e-3 <= best["alpha"] <= 1 and value == max(t["value"] for t in trials)
