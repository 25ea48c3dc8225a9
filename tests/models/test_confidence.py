"""The confidence map: fitted on held-out predictions, stored in the card, used by file and stream."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from callemo.analyze.pipeline import analyze_prepared
from callemo.models.base import MODEL_CARD, ModelError, load_model
from callemo.models.confidence import ConfidenceMap, top_confidence
from callemo.service.streaming import StreamAnalyzer
from helpers.calls import table, tm
from helpers.voices import speechlike

LABELS = ["angry", "happy", "neutral", "sad"]
#: how often a prediction of each class is right (like the default model on unseen calls)
PRECISION = {"angry": 0.3, "happy": 0.2, "neutral": 0.9, "sad": 0.3}


def _svm_like(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Probabilities as the default SVM gives them (softmax of one-vs-rest votes 3/2/1/0 plus a
    small tie-breaker), and true labels right at each predicted class's PRECISION, a little more
    often when the top two are further apart."""
    rng = np.random.default_rng(seed)
    pred = rng.choice(4, n, p=[0.2, 0.15, 0.5, 0.15])
    votes = np.zeros((n, 4))
    for i, c in enumerate(pred):
        others = rng.permutation([j for j in range(4) if j != c])
        votes[i, c] = 3.0
        votes[i, others] = [2.0, 1.0, 0.0]
    tie = rng.uniform(-0.3, 0.3, (n, 4))
    tie[np.arange(n), pred] = rng.uniform(0.0, 0.3, n)
    z = votes + tie
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    top2 = np.sort(z, axis=1)
    margin = top2[:, -1] - top2[:, -2]  # 0.4 .. 1.6
    truth = []
    for i, c in enumerate(pred):
        p_right = np.clip(PRECISION[LABELS[c]] + 0.3 * (margin[i] - 1.0), 0.02, 0.98)
        truth.append(LABELS[c] if rng.random() < p_right else LABELS[rng.choice([j for j in range(4) if j != c])])
    return proba, truth


def test_fitted_map_estimates_the_chance_of_being_right():
    proba, truth = _svm_like(4000, seed=0)
    m = ConfidenceMap.fit(proba, truth, LABELS, fitted_on="generated")
    test_p, test_t = _svm_like(4000, seed=1)
    conf = m(test_p)
    pred = np.asarray(LABELS)[test_p.argmax(axis=1)]
    right = (pred == np.asarray(test_t)).astype(int)
    # per predicted class, the mean confidence is the share of right predictions
    for lab in LABELS:
        sel = pred == lab
        assert abs(conf[sel].mean() - right[sel].mean()) < 0.05, lab
    # and it ranks right above wrong far better than the top probability does
    auc_map, auc_top = roc_auc_score(right, conf), roc_auc_score(right, test_p.max(axis=1))
    assert auc_map > 0.8 and auc_map > auc_top + 0.15
    # more separation between the top two -> more confidence, within a class
    x = test_p[pred == "angry"]
    order = np.argsort(ConfidenceMap.features(x)[:, -1])
    assert m(x[order[-20:]]).mean() > m(x[order[:20]]).mean() + 0.1


def test_card_round_trip_and_bad_cards(tmp_path):
    proba, truth = _svm_like(500, seed=2)
    m = ConfidenceMap.fit(proba, truth, LABELS)
    back = ConfidenceMap.from_card(yaml.safe_load(yaml.safe_dump(m.to_card())), LABELS)
    assert np.allclose(back(proba), m(proba), atol=1e-5)
    with pytest.raises(ValueError, match="not the model's"):
        ConfidenceMap.from_card(m.to_card(), ["neutral", "angry"])
    with pytest.raises(ValueError, match="both right and wrong"):
        ConfidenceMap.fit(proba, np.asarray(LABELS)[proba.argmax(axis=1)], LABELS)
    assert np.array_equal(top_confidence(proba), proba.max(axis=1))
    # a model card with a broken map: a clear error naming the file
    d = tm.saved_model(tmp_path / "m")
    card = yaml.safe_load((d / MODEL_CARD).read_text())
    card["confidence_map"] = {"labels": card["labels"], "class_weights": [1.0]}
    (d / MODEL_CARD).write_text(yaml.safe_dump(card))
    with pytest.raises(ModelError, match=r"model\.yaml.*confidence_map"):
        load_model(d)


def _model_with_map(tmp_path) -> tuple[tm.CentroidModel, ConfidenceMap]:
    """The tiny model with a map that trusts ``neutral`` and doubts the others, saved and loaded."""
    m = tm.train()
    labels = list(m.labels)  # angry, neutral, sad
    m.confidence_map = ConfidenceMap(labels, [WEIGHT[lab] for lab in labels], 0.0, 0.0)
    d = m.save(tmp_path / "m")
    loaded = load_model(d)
    assert isinstance(loaded.confidence_map, ConfidenceMap)
    return loaded, loaded.confidence_map


WEIGHT = {"angry": -1.5, "neutral": 1.5, "sad": -0.5}
SR = 8000
#: (start, end, channel, level): speech silero accepts, loud and quiet turns on both channels
TURNS = [(0.8, 4.0, 0, 0.3), (4.6, 8.0, 1, 0.6), (8.6, 12.0, 0, 0.3), (12.6, 16.0, 1, 0.05)]


def _stereo_call() -> np.ndarray:
    rng = np.random.default_rng(3)
    x = (1e-3 * rng.standard_normal((2, 18 * SR))).astype(np.float32)
    for k, (s, e, ch, level) in enumerate(TURNS):
        v = speechlike(e - s, sr=SR, f0=(110, 230)[ch], seed=20 + k, level=level)
        x[ch, int(s * SR): int(s * SR) + len(v)] += v
    return np.clip(x, -1, 1)


def test_file_and_stream_report_the_maps_confidence(tmp_path):
    model, cmap = _model_with_map(tmp_path)
    labels = list(model.labels)
    audio = _stereo_call()
    rows = [(s, e, ("agent", "client")[ch], ("agent", "client")[ch], ch) for s, e, ch, _ in TURNS]
    # file analysis: the label follows the probabilities, the confidence is the map's
    seg = analyze_prepared(table(rows), audio, SR, file="call.wav", model=model, emotions="all").segments
    p = seg[[f"p_{lab}" for lab in labels]].to_numpy(float)
    assert list(seg["emotion"]) == [labels[i] for i in p.argmax(axis=1)]
    assert np.allclose(seg["confidence"], cmap(p))
    assert np.allclose(seg["confidence"], [1 / (1 + np.exp(-WEIGHT[e])) for e in seg["emotion"]])
    assert seg["confidence"].nunique() > 1  # not one constant
    # EmotionModel.predict reports it too
    pred = model.predict([audio[0, int(0.8 * SR): 4 * SR]])
    assert pred["confidence"].iloc[0] == pytest.approx(1 / (1 + np.exp(-WEIGHT[pred["emotion"].iloc[0]])))
    # the live stream: the same prediction step (confidence = the map of the segment's probabilities)
    sa = StreamAnalyzer(model, sr=SR, channels=["agent", "client"], options={"emotions": "all"})
    pcm = (audio.T * 32767).astype("<i2")
    step = SR // 2
    events = [e for i in range(0, len(pcm), step) for e in sa.push(pcm[i: i + step].tobytes())] + sa.close()
    segs = [e for e in events if e["type"] == "segment" and e["emotion"] not in (None, "unknown")]
    assert len(segs) >= 3
    for e in segs:
        q = np.array([[e["probabilities"][lab] for lab in labels]])
        assert e["emotion"] == labels[int(q.argmax())]
        assert e["confidence"] == pytest.approx(float(cmap(q)[0]), abs=1e-3)
        assert e["confidence"] == pytest.approx(1 / (1 + np.exp(-WEIGHT[e["emotion"]])), abs=1e-3)
