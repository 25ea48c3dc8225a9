"""SSL encoders (paper 001) on tiny randomly initialised checkpoints in a local folder, no network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from callemo.errors import CallemoError
from callemo.models.base import build_model, load_model
from callemo.models.ssl import AttentiveCorrelationPooling, SSLEncoder, SSLHead, masked_mean_std
from callemo.train.tasks import fit_model
from helpers.voices import synth_voice

torch.set_num_threads(1)

TINY_ARCH = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 4),
                 num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


def _save_tiny(kind: str, directory):
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

    cfg_cls, model_cls = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "wavlm": (WavLMConfig, WavLMModel),
                          "hubert": (HubertConfig, HubertModel)}[kind]
    torch.manual_seed(0)
    model_cls(cfg_cls(**TINY_ARCH)).save_pretrained(str(directory))
    return directory


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return _save_tiny("wav2vec2", tmp_path_factory.mktemp("enc") / "tiny_w2v")


def _data(n_spk=4, per=3):
    sig, y, spk = [], [], []
    for s in range(n_spk):
        for lab, f0 in (("low", 100.0), ("high", 280.0)):
            for r in range(per):
                sig.append(synth_voice(0.8 + 0.3 * r, sr=16000, f0=f0, seed=100 * s + r + int(f0)))
                y.append(lab)
                spk.append(f"s{s}")
    return sig, y, spk


@pytest.mark.parametrize("kind", ["wavlm", "hubert"])
def test_encoders_load_from_a_local_folder_only(tmp_path, kind):
    enc = SSLEncoder(_save_tiny(kind, tmp_path / kind))
    h = enc.hidden_states(synth_voice(1.0, sr=16000))
    assert h.shape[0] == 3 and h.shape[2] == 32 and h.shape[1] > 10  # 2 layers + CNN output, 50 frames/s
    # chunked processing of long input concatenates along time
    enc.max_chunk = 0.5
    assert enc.hidden_states(synth_voice(1.0, sr=16000)).shape[1] >= h.shape[1] - 2


def test_missing_or_bad_encoder_path_is_a_clear_error(tmp_path):
    with pytest.raises(CallemoError, match="not found"):
        SSLEncoder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CallemoError, match=r"config\.json"):
        SSLEncoder(tmp_path / "empty")
    with pytest.raises(CallemoError, match="encoder"):
        fit_model(build_model({"type": "ssl_head"}), *_data(2, 1))


def test_pooling_layers():
    torch.manual_seed(0)
    x = torch.randn(2, 30, 6)
    mask = torch.arange(30)[None] < torch.tensor([[20], [30]])
    # padded steps do not count
    ms = masked_mean_std(x, mask)
    assert torch.allclose(ms[0, :6], x[0, :20].mean(0), atol=1e-5)
    pool = AttentiveCorrelationPooling(6, heads=3, att_dim=8)
    z = pool(x, mask)
    assert z.shape == (2, 15) and float(z.detach().abs().max()) <= 1.0 + 1e-4
    x2 = x.clone()
    x2[0, 20:] = 100.0
    assert torch.allclose(pool(x2, mask)[0], z[0], atol=1e-5)
    a = pool.attention(x, mask).detach()
    assert torch.allclose(a.sum(1), torch.ones(2)) and float(a[0, 20:].sum()) == 0.0
    head = SSLHead(3, 6, 4, head="attcp", reduce=5)
    assert head(torch.randn(2, 3, 30, 6), torch.tensor([20, 30])).shape == (2, 4)
    assert abs(sum(head.layers.weights()) - 1) < 1e-6


@pytest.mark.parametrize("head", ["sp", "attcp"])
def test_ssl_head_trains_and_round_trips(tmp_path, encoder_dir, head):
    sig, y, spk = _data()
    cfg = {"type": "ssl_head", "encoder": str(encoder_dir), "head": head, "reduce": 16, "embedding": 16, "att_dim": 8,
           "epochs": 25, "patience": None, "lr": 1e-2, "batch_size": 4, "copy_encoder": head == "sp"}
    m = fit_model(build_model(cfg), sig, y, spk)
    h = m.history
    assert np.mean(h["train_loss"][-3:]) < h["train_loss"][0]
    assert len(h["layer_weights"]) == 3
    p = m.predict_proba(sig, spk)
    acc = np.mean(np.array(m.labels)[p.argmax(1)] == np.array(y))
    assert acc >= 0.75, acc
    m.save(tmp_path / "model")
    m2 = load_model(tmp_path / "model")
    np.testing.assert_allclose(m2.predict_proba(sig, spk), p, atol=1e-6)
    if head == "sp":  # self-contained directory
        assert (tmp_path / "model" / "encoder" / "config.json").exists()
        assert m2.card["encoder_location"] == "encoder"


def test_ssl_svm_on_pooled_layer_embeddings(tmp_path, encoder_dir):
    sig, y, spk = _data()
    cfg = {"type": "ssl_svm", "encoder": str(encoder_dir), "layers": [1, 2], "pool": "meanstd"}
    m = build_model(cfg).fit(sig, y, spk)
    assert m.embeddings(sig[:2]).shape == (2, 2 * 2 * 32)
    p = m.predict_proba(sig, spk)
    assert np.mean(np.array(m.labels)[p.argmax(1)] == np.array(y)) >= 0.9
    m.save(tmp_path / "svm")
    np.testing.assert_allclose(load_model(tmp_path / "svm").predict_proba(sig, spk), p, atol=1e-9)
    # weights pickled by another scikit-learn release are refused, saying which
    card = (tmp_path / "svm" / "model.yaml").read_text()
    assert "sklearn_version:" in card
    (tmp_path / "svm" / "model.yaml").write_text(
        card.replace("sklearn_version:", "sklearn_version: '0.24.2'\nold_version:"))
    with pytest.raises(CallemoError, match=r"saved with scikit-learn 0\.24\.2"):
        load_model(tmp_path / "svm")
    with pytest.raises(CallemoError, match="out of range"):
        build_model({"type": "ssl_svm", "encoder": str(encoder_dir), "layers": [7]}).fit(sig, y, spk)
