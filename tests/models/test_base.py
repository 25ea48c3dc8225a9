"""The model-directory format and registry."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from callemo.models.base import EmotionModel, ModelError, build_model, load_model, register_model


@register_model("test_energy_centroid")
class EnergyCentroid(EmotionModel):
    """A real (tiny) model: nearest class centroid of log-energy."""

    def fit(self, signals, y, speakers=None, **kw):
        self.labels = sorted(set(y))
        e = np.array([np.log(np.mean(s**2) + 1e-9) for s in signals])
        self.centroids = np.array([e[np.array(y) == lab].mean() for lab in self.labels])
        return self

    def predict_proba(self, signals, speakers=None):
        e = np.array([np.log(np.mean(s**2) + 1e-9) for s in signals])
        logits = -np.abs(e[:, None] - self.centroids[None, :])
        p = np.exp(logits - logits.max(1, keepdims=True))
        return p / p.sum(1, keepdims=True)

    def _save(self, d):
        np.save(d / "centroids.npy", self.centroids)
        return {}

    @classmethod
    def _load(cls, d, card):
        m = cls(card.get("config"))
        m.centroids = np.load(d / "centroids.npy")
        return m


def test_save_load_identical_predictions(tmp_path):
    rng = np.random.default_rng(0)
    loud = [0.5 * rng.standard_normal(800) for _ in range(5)]
    soft = [0.01 * rng.standard_normal(800) for _ in range(5)]
    m = build_model({"type": "test_energy_centroid"}).fit(loud + soft, ["angry"] * 5 + ["sad"] * 5)
    m.sample_rate = 8000
    m.save(tmp_path / "m", license="test")
    card = yaml.safe_load((tmp_path / "m" / "model.yaml").read_text())
    assert card["type"] == "test_energy_centroid" and card["labels"] == ["angry", "sad"] and card["license"] == "test"
    m2 = load_model(tmp_path / "m")
    test = [0.4 * rng.standard_normal(800), 0.02 * rng.standard_normal(800)]
    np.testing.assert_array_equal(m.predict_proba(test), m2.predict_proba(test))
    assert m2.predict(test) == ["angry", "sad"] and m2.sample_rate == 8000


def test_bad_model_directories(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no model.yaml"):
        load_model(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.yaml").write_text("type: nonexistent\nlabels: [a]\n")
    with pytest.raises(ModelError, match="unknown model type"):
        load_model(tmp_path / "bad")
    with pytest.raises(ModelError, match="needs a 'type'"):
        build_model({})
