"""Cross-validation, held-out evaluation and leave-one-corpus-out with a tiny real model.

The model is a nearest-centroid classifier on the log RMS level of the signal, written here so
the protocol is tested without depending on the project's own classifiers. It also records the
speakers it was trained on, so the test can check that no test speaker was ever seen in training.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from callemo.evaluate.protocol import crossval, evaluate_model, leave_one_corpus_out, to_json
from callemo.io import save_audio
from callemo.models.base import EmotionModel, register_model

LEVELS = {"sad": 0.02, "neutral": 0.1, "angry": 0.5}
SEEN: list[tuple[set, set]] = []


@register_model("test_rms_centroid")
class RmsCentroid(EmotionModel):
    sample_rate = 8000

    def fit(self, signals, y, speakers=None, **kw):
        feats = np.array([np.log(np.sqrt(np.mean(x**2)) + 1e-9) for x in signals])
        self.labels = sorted(set(y))
        self.centroids = np.array([feats[np.asarray(y) == lab].mean() for lab in self.labels])
        self.train_speakers = set(speakers or [])
        return self

    def predict_proba(self, signals, speakers=None):
        SEEN.append((set(self.train_speakers), set(speakers or [])))
        feats = np.array([np.log(np.sqrt(np.mean(x**2)) + 1e-9) for x in signals])
        d = -np.abs(feats[:, None] - self.centroids[None, :])
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def synth(n_speakers=6, per_class=2, seed=0, corpora=None):
    rng = np.random.default_rng(seed)
    rows, sigs = [], []
    for s in range(n_speakers):
        gain = rng.uniform(0.8, 1.25)  # speakers differ a little in loudness
        for lab, level in LEVELS.items():
            for _ in range(per_class):
                x = rng.standard_normal(2400).astype(np.float32) * level * gain
                sigs.append(x)
                rows.append({"speaker": f"spk{s}", "emotion": lab, "corpus": corpora[s] if corpora else "synth"})
    return pd.DataFrame(rows), sigs


def test_crossval_with_given_signals():
    df, sigs = synth()
    SEEN.clear()
    r = crossval(df, {"type": "test_rms_centroid"}, k=3, signals=sigs, progress=False, n_boot=200)
    assert r["ua"] == pytest.approx(1.0) and r["wa"] == pytest.approx(1.0) and r["macro_f1"] == pytest.approx(1.0)
    assert r["ua_ci"] == [1.0, 1.0]
    assert r["labels"] == ["neutral", "sad", "angry"]  # the 4-class order
    assert len(r["folds"]) == 3 and sum(f["n_test"] for f in r["folds"]) == len(df)
    assert sorted(s for f in r["folds"] for s in f["test_groups"]) == sorted(df.speaker.unique())
    # speaker independence seen from inside the model
    assert len(SEEN) == 3 and all(train.isdisjoint(test) and test for train, test in SEEN)
    # baselines: majority = one class fully recalled -> UA 1/3; random around 1/3
    assert r["baselines"]["majority"]["ua"] == pytest.approx(1 / 3)
    assert r["baselines"]["random"]["ua"] == pytest.approx(1 / 3, abs=0.05)
    assert r["protocol"]["k"] == 3 and r["protocol"]["group"] == "speaker" and r["protocol"]["n_groups"] == 6
    assert "speaker" in r["protocol"]["ci"]


def test_crossval_loads_audio_from_a_manifest_and_writes_json(tmp_path):
    df, sigs = synth(n_speakers=4, per_class=1)
    paths = []
    for i, x in enumerate(sigs):
        paths.append(str(save_audio(tmp_path / f"item{i}.wav", x, 16000)))  # 0.15 s at 16 kHz
    df = df.assign(path=paths, start=np.nan, end=np.nan)
    r = crossval(df, {"type": "test_rms_centroid"}, k=4, progress=False, n_boot=100, setting="binary")
    assert r["protocol"]["sample_rate"] == 8000  # the model's rate
    assert r["labels"] == ["neutral", "emotional"]
    assert r["protocol"]["label_setting"]["setting"] == "binary"
    out = tmp_path / "cv.json"
    to_json(r, out)
    obj = json.loads(out.read_text())
    assert isinstance(obj["ua"], float) and isinstance(obj["wa"], float) and isinstance(obj["macro_f1"], float)
    assert len(obj["ua_ci"]) == 2 and "predictions" not in obj
    assert obj["ua"] == pytest.approx(r["ua"])


def test_evaluate_model_on_held_out_speakers():
    df, sigs = synth(n_speakers=4)
    model = RmsCentroid({"type": "test_rms_centroid"}).fit(sigs[:12], df.emotion[:12].tolist(),
                                                           df.speaker[:12].tolist())
    test = df.iloc[12:].reset_index(drop=True)
    r = evaluate_model(model, test, signals=sigs[12:], n_boot=100)
    assert r["ua"] == pytest.approx(1.0) and r["n"] == 12 and r["protocol"]["n_groups"] == 2
    assert np.trace(np.array(r["confusion"])) == 12
    # a label the model cannot predict counts as an error, with a warning
    odd = test.copy()
    odd.loc[0, "emotion"] = "happy"
    with pytest.warns(UserWarning, match="cannot predict"):
        r2 = evaluate_model(model, odd, signals=sigs[12:], n_boot=0)
    assert r2["per_class_recall"]["happy"] == 0.0 and r2["wa"] == pytest.approx(11 / 12)


def test_leave_one_corpus_out():
    df, sigs = synth(n_speakers=6, corpora=["c1", "c1", "c2", "c2", "c3", "c3"])
    r = leave_one_corpus_out(df, {"type": "test_rms_centroid"}, signals=sigs, progress=False, n_boot=100)
    assert sorted(r["corpora"]) == ["c1", "c2", "c3"]
    for rep in r["corpora"].values():
        assert rep["n"] == 12 and rep["ua"] == pytest.approx(1.0)
        assert rep["baselines"]["majority"]["ua"] == pytest.approx(1 / 3)
    assert r["ua"] == pytest.approx(1.0) and len(r["ua_ci"]) == 2
    json.loads(to_json(r))


def test_crossval_with_more_folds_than_speakers_records_the_change():
    df, sigs = synth(n_speakers=3, per_class=1)
    with pytest.warns(UserWarning, match="only 3 groups"):
        r = crossval(df, {"type": "test_rms_centroid"}, k=5, signals=sigs, progress=False, n_boot=0)
    assert r["protocol"]["k"] == 3 and r["protocol"]["k_requested"] == 5
    assert any("only 3 groups" in n for n in r["protocol"]["notes"])
    assert all(len(f["test_groups"]) == 1 for f in r["folds"])


GENDERS_SEEN: list[list[str]] = []


@register_model("test_rms_centroid_multitask")
class RmsCentroidMultitask(RmsCentroid):
    """Names ``gender`` in ``fit``, as multitask models (CNN-BiLSTM) do."""

    def fit(self, signals, y, speakers=None, *, gender=None, **kw):
        GENDERS_SEEN.append(list(gender) if gender is not None else None)
        return super().fit(signals, y, speakers)


def test_crossval_passes_gender_to_multitask_models_only():
    df, sigs = synth(n_speakers=4, per_class=1)
    df["gender"] = ["f" if int(s[-1]) % 2 else "m" for s in df["speaker"]]
    GENDERS_SEEN.clear()
    crossval(df, {"type": "test_rms_centroid_multitask"}, k=2, signals=sigs, progress=False, n_boot=50)
    assert len(GENDERS_SEEN) == 2
    assert all(g is not None and set(g) <= {"f", "m"} and len(g) == len(df) // 2 for g in GENDERS_SEEN)
    # a model whose fit does not name gender still trains (it is not passed through **kw)
    r = crossval(df, {"type": "test_rms_centroid"}, k=2, signals=sigs, progress=False, n_boot=50)
    assert r["ua"] > 0.5
