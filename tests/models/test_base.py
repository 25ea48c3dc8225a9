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
    loud = [0.5 * rng.standard_normal(8000) for _ in range(5)]
    soft = [0.01 * rng.standard_normal(8000) for _ in range(5)]
    m = build_model({"type": "test_energy_centroid"}).fit(loud + soft, ["angry"] * 5 + ["sad"] * 5)
    m.sample_rate = 8000
    m.save(tmp_path / "m", license="test")
    card = yaml.safe_load((tmp_path / "m" / "model.yaml").read_text())
    assert card["type"] == "test_energy_centroid" and card["labels"] == ["angry", "sad"] and card["license"] == "test"
    m2 = load_model(tmp_path / "m")
    test = [0.4 * rng.standard_normal(8000), 0.02 * rng.standard_normal(8000)]
    np.testing.assert_array_equal(m.predict_proba(test), m2.predict_proba(test))
    pred = m2.predict(test)
    assert pred["emotion"].tolist() == ["angry", "sad"] and m2.sample_rate == 8000
    np.testing.assert_allclose(pred[["p_angry", "p_sad"]].to_numpy(), m.predict_proba(test), atol=1e-6)  # float32 audio


def test_bad_model_directories(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no model\.yaml"):
        load_model(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.yaml").write_text("type: nonexistent\nlabels: [a]\n")
    with pytest.raises(ModelError, match="unknown model type"):
        load_model(tmp_path / "bad")
    with pytest.raises(ModelError, match="needs a 'type'"):
        build_model({})


def _energy_model(sr=8000):
    rng = np.random.default_rng(0)
    loud = [0.5 * rng.standard_normal(sr) for _ in range(5)]
    soft = [0.01 * rng.standard_normal(sr) for _ in range(5)]
    m = build_model({"type": "test_energy_centroid"}).fit(loud + soft, ["angry"] * 5 + ["sad"] * 5)
    m.sample_rate, m.min_duration = sr, 0.5
    return m


def test_predict_a_segment_table_returns_columns_on_its_index(tmp_path):
    import pandas as pd
    import soundfile as sf

    from callemo.segments import set_index

    sr = 8000
    rng = np.random.default_rng(1)
    # a stereo call: channel 0 loud for 0-2 s, channel 1 loud for 2-4 s
    x = 0.01 * rng.standard_normal((4 * sr, 2))
    x[: 2 * sr, 0] *= 50
    x[2 * sr:, 1] *= 50
    f = tmp_path / "call.wav"
    sf.write(f, x.astype(np.float32), sr)
    table = set_index(pd.DataFrame({
        "file": [str(f)] * 5, "start": [0.0, 2.0, 0.0, 2.0, 3.0], "end": [2.0, 4.0, 2.0, 4.0, 3.2],
        "channel": [0, 0, 1, 1, 1], "speaker": ["agent", "agent", "client", "client", "client"]}))
    m = _energy_model(sr)
    pred = m.predict(table)
    assert pred.index.equals(table.index)
    assert set(pred.columns) == {"emotion", "confidence", "p_angry", "p_sad"}
    by = {(s, c): e for (_, s, _), c, e in zip(pred.index, table["channel"], pred["emotion"])}
    assert by[(0.0, 0)] == "angry" and by[(2.0, 0)] == "sad" and by[(0.0, 1)] == "sad" and by[(2.0, 1)] == "angry"
    short = pred.loc[(str(f), 3.0, 3.2)]  # 0.2 s < min_duration: not judged
    assert short["emotion"] == "unknown" and short["confidence"] == 0 and np.isnan(short["p_angry"])
    # the same segments given as signals: the same probabilities, on 0..n-1
    sigs = [x[int(a * sr):int(b * sr), c].astype(np.float32)
            for (_, a, b), c in zip(table.index, table["channel"])]
    same = m.predict(sigs)
    assert list(same.index) == list(range(5))
    np.testing.assert_allclose(same["p_angry"].to_numpy(), pred["p_angry"].to_numpy(), atol=1e-4)


def test_predict_marks_uncertain_judgements_unknown_but_keeps_probabilities():
    m = _energy_model()
    rng = np.random.default_rng(2)
    sigs = [0.5 * rng.standard_normal(8000), 0.07 * rng.standard_normal(8000)]  # the second sits between
    m.unknown_below = 0.0
    sure = m.predict(sigs)
    m.unknown_below = float(sure["confidence"].max()) + 1e-6
    unsure = m.predict(sigs)
    assert (unsure["emotion"] == "unknown").all()
    np.testing.assert_allclose(unsure["confidence"], sure["confidence"])


def test_predict_needs_the_segment_table_index(tmp_path):
    import pandas as pd

    with pytest.raises(ModelError, match="indexed by"):
        _energy_model().predict(pd.DataFrame({"file": ["x.wav"], "start": [0.0], "end": [1.0]}))



def test_per_speaker_normalisation_is_declared_by_the_model_and_by_any_ensemble_member():
    assert build_model({"type": "cnn_bilstm"}).per_speaker_normalisation  # its default
    assert not build_model({"type": "cnn_bilstm", "normalisation": "global"}).per_speaker_normalisation
    assert build_model({"type": "svm", "normalisation": "speaker"}).per_speaker_normalisation
    assert not build_model({"type": "svm"}).per_speaker_normalisation  # global by default
    # an ensemble stores its members' configurations as a list: one speaker-normalised member is enough
    mixed = build_model({"type": "ensemble", "members": [{"normalisation": "global"}, {"normalisation": "speaker"}]})
    assert mixed.per_speaker_normalisation
    none = build_model({"type": "ensemble", "normalisation": "speaker",
                        "members": [{"normalisation": "global"}, {"normalisation": "none"}]})
    assert not none.per_speaker_normalisation
    assert load_model().per_speaker_normalisation  # the shipped default model standardises per speaker
