"""Training tasks of the neural classifiers: the Temporal CNN-BiLSTM (paper 002) trained by
:func:`callemo.train.fit_model`, multitask, early stopping, round trip through a model directory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from callemo.models.base import ModelError, build_model, load_model
from callemo.train.tasks import fit_model
from helpers.voices import synth_voice

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


def test_tiny_model_trains_multitask_and_round_trips(tmp_path):
    sig, y, spk, gen = _data()
    m = fit_model(build_model(dict(TINY)), sig, y, spk, gender=gen)
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
    m3 = fit_model(build_model(dict(TINY)), sig, y, spk, gender=gen)
    np.testing.assert_allclose(m3.predict_proba(sig, spk), p, atol=1e-6)


def test_trains_without_gender_and_handles_short_signals():
    sig, y, spk, _ = _data(n_spk=3, per=2)
    m = fit_model(build_model({**TINY, "epochs": 2, "normalisation": "global"}), sig, y, spk)
    assert m.net.gender is None and m.genders == []
    p = m.predict_proba([np.zeros(80, dtype=np.float32), sig[0][:400]])
    assert p.shape == (2, 2) and np.isfinite(p).all()


def test_cuda_requested_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    sig, y, spk, _ = _data(n_spk=2, per=1)
    from callemo.errors import CallemoError

    with pytest.raises(CallemoError, match="CUDA"):
        fit_model(build_model({**TINY, "device": "cuda"}), sig, y, spk)


def test_a_network_is_trained_by_its_task_not_by_model_fit():
    sig, y, spk, _ = _data(n_spk=2, per=1)
    with pytest.raises(ModelError, match="fit_model"):
        build_model(dict(TINY)).fit(sig, y, spk)
