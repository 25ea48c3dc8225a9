"""`evaluate`: calibration (ECE, Brier), per-item predictions, reliability diagram, per-group UA,
and nothing dropped silently (labels outside the setting or unknown to the model, one speaker,
every bad audio file) — issue 9 item 5 and issue 10 item 6."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from callemo.evaluate.metrics import brier_score, expected_calibration_error
from callemo.evaluate.protocol import evaluate_model
from callemo.models.base import EmotionModel, register_model

LEVELS = {"sad": 0.02, "neutral": 0.1, "angry": 0.5}


@register_model("test_level_proba")
class LevelModel(EmotionModel):
    """Probabilities from the distance of the log RMS level to fixed class levels (no training)."""

    sample_rate = 8000
    labels: ClassVar[list[str]] = ["angry", "neutral", "sad"]

    def fit(self, signals, y, speakers=None, **kw):
        return self

    def predict_proba(self, signals, speakers=None):
        lv = np.array([np.log(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-9) for x in signals])
        centres = np.log([LEVELS[lab] for lab in self.labels])
        d = -1.5 * np.abs(lv[:, None] - centres[None, :])
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _save(self, directory):
        return {}

    @classmethod
    def _load(cls, directory, card):
        return cls(card.get("config"))


def _data(n_speakers=4, per_class=3, seed=0, genders=("f", "m"), corpora=("c1", "c2")):
    rng = np.random.default_rng(seed)
    rows, sigs = [], []
    for s in range(n_speakers):
        for lab, level in LEVELS.items():
            for _ in range(per_class):
                # levels overlap between classes, so some answers are wrong and confidences vary
                sigs.append((rng.standard_normal(4000) * level * rng.uniform(0.4, 2.5)).astype(np.float32))
                rows.append({"speaker": f"s{s}", "emotion": lab, "gender": genders[s % len(genders)],
                             "corpus": corpora[s % len(corpora)], "path": f"/data/s{s}_{lab}_{len(rows)}.wav"})
    return pd.DataFrame(rows), sigs


def test_calibration_and_per_item_fields():
    df, sigs = _data()
    r = evaluate_model(LevelModel(), df, signals=sigs, n_boot=50)
    assert 0.4 < r["ua"] < 1.0  # a real, imperfect model
    proba = np.asarray(r["proba"])
    assert proba.shape == (len(df), 3) and np.allclose(proba.sum(axis=1), 1)
    assert r["model_labels"] == ["angry", "neutral", "sad"]
    assert r["ece"] == pytest.approx(expected_calibration_error(df.emotion, proba, r["model_labels"]))
    assert r["brier"] == pytest.approx(brier_score(df.emotion, proba, r["model_labels"]))
    assert 0 < r["ece"] < 1 and 0 < r["brier"] < 2
    assert sum(r["reliability"]["count"]) == len(df) == r["calibration_n"]
    assert r["paths"] == df.path.tolist() and r["speakers"] == df.speaker.tolist()
    assert r["predictions"] == [r["model_labels"][i] for i in proba.argmax(axis=1)]


def test_ua_by_gender_and_corpus():
    df, sigs = _data(n_speakers=4, genders=("f", "f", "m", "m"), corpora=("c1", "c2"))
    r = evaluate_model(LevelModel(), df, signals=sigs, n_boot=50)
    assert set(r["by"]) == {"gender", "corpus"}
    assert set(r["by"]["gender"]) == {"f", "m"} and set(r["by"]["corpus"]) == {"c1", "c2"}
    from callemo.evaluate.metrics import ua

    f = (df.gender == "f").to_numpy()
    assert r["by"]["gender"]["f"]["ua"] == pytest.approx(ua(df.emotion[f], np.asarray(r["predictions"])[f]))
    assert r["by"]["gender"]["f"]["n"] == int(f.sum()) and r["by"]["gender"]["f"]["n_groups"] == 2
    # without the columns there is no breakdown
    r2 = evaluate_model(LevelModel(), df.drop(columns=["gender", "corpus"]), signals=sigs, n_boot=0)
    assert r2["by"] == {}


def test_rows_outside_the_label_setting_are_counted_and_warned():
    df, sigs = _data(n_speakers=2, per_class=2)
    extra = pd.DataFrame([{"speaker": "s0", "emotion": "calm", "path": "/x.wav"},
                          {"speaker": "s1", "emotion": "calm", "path": "/y.wav"},
                          {"speaker": "s1", "emotion": "fearful", "path": "/z.wav"}])
    full = pd.concat([df, extra], ignore_index=True)
    sigs_full = sigs + [np.zeros(4000, np.float32) + 0.01] * 3
    match = r"3 of 15 row\(s\) have labels outside the label setting '4class'.*calm \(2\), fearful \(1\)"
    with pytest.warns(UserWarning, match=match):
        r = evaluate_model(LevelModel(), full, signals=sigs_full, n_boot=0, setting="4class")
    assert r["n"] == 12 and r["excluded"]["outside_label_setting"] == {"calm": 2, "fearful": 1}
    assert r["protocol"]["n_excluded"] == 3 and any("calm (2)" in n for n in r["protocol"]["notes"])


def test_labels_unknown_to_the_model_are_counted_and_kept_as_errors():
    df, sigs = _data(n_speakers=2, per_class=2)
    df.loc[[0, 1], "emotion"] = "happy"
    with pytest.warns(UserWarning, match=r"2 item\(s\) have label\(s\) the model cannot predict \(happy: 2"):
        r = evaluate_model(LevelModel(), df, signals=sigs, n_boot=0)
    assert r["excluded"]["unknown_to_model"] == {"happy": 2}
    assert r["n"] == len(df) and r["per_class_recall"]["happy"] == 0.0  # kept, as errors
    assert r["calibration_n"] == len(df) - 2  # ECE/Brier only where the truth is a model label
    known = df.emotion != "happy"
    proba = np.asarray(r["proba"])[known.to_numpy()]
    assert r["ece"] == pytest.approx(expected_calibration_error(df.emotion[known], proba, r["model_labels"]))


def test_one_speaker_has_no_confidence_interval():
    df, sigs = _data(n_speakers=1)
    with pytest.warns(UserWarning, match="one speaker only"):
        r = evaluate_model(LevelModel(), df, signals=sigs, n_boot=200)
    assert all(np.isnan(v) for v in r["ua_ci"])  # not [ua, ua]
    assert "one speaker only" in r["ci"]["unavailable"] and r["protocol"]["ci"].startswith("unavailable")
    # two speakers: an interval again
    df2, sigs2 = _data(n_speakers=2)
    r2 = evaluate_model(LevelModel(), df2, signals=sigs2, n_boot=200)
    assert r2["ua_ci"][0] <= r2["ua"] <= r2["ua_ci"][1] and "unavailable" not in r2["ci"]


# ---------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def cli(tmp_path):
    from callemo.cli import _load_commands, app

    _load_commands()
    LevelModel().save(tmp_path / "model")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def _manifest(tmp_path, df, sigs):
    paths = []
    for i, x in enumerate(sigs):
        p = tmp_path / "audio" / f"item{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, x, 8000, subtype="FLOAT")
        paths.append(str(p))
    out = df.assign(path=paths)
    out.to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def test_cli_evaluate_json_predictions_and_reliability(tmp_path, cli):
    df, sigs = _data(n_speakers=3, per_class=2)
    m = _manifest(tmp_path, df, sigs)
    r = cli("evaluate", m, "--model", tmp_path / "model", "--json", tmp_path / "ev.json", "--out", tmp_path / "ev",
            "--n-boot", 50)
    assert r.exit_code == 0, r.output
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert 0 <= ev["ece"] <= 1 and 0 <= ev["brier"] <= 2
    assert set(ev["by"]) == {"gender", "corpus"}
    assert "proba" not in ev and "predictions" not in ev  # per-item data goes to predictions.csv
    pred = pd.read_csv(tmp_path / "ev" / "predictions.csv")
    assert list(pred.columns) == ["path", "speaker", "true", "predicted", "confidence", "p_angry", "p_neutral", "p_sad"]
    assert len(pred) == len(df) and set(pred.true) == set(LEVELS)
    assert np.allclose(pred[["p_angry", "p_neutral", "p_sad"]].sum(axis=1), 1, atol=1e-5)
    assert np.allclose(pred.confidence, pred[["p_angry", "p_neutral", "p_sad"]].max(axis=1))
    assert (pred.path.str.endswith(".wav")).all()
    # recomputed from the CSV, the ECE is the JSON's
    cols = ["p_angry", "p_neutral", "p_sad"]
    e = expected_calibration_error(pred.true, pred[cols].to_numpy(), ["angry", "neutral", "sad"])
    assert e == pytest.approx(ev["ece"], abs=1e-4)
    png = tmp_path / "ev" / "evaluate_reliability.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "ev" / "evaluate_confusion.png").exists()
    assert "ECE" in r.output


def test_cli_evaluate_reports_every_bad_audio_file(tmp_path, cli):
    df, sigs = _data(n_speakers=2, per_class=1)
    m = _manifest(tmp_path, df, sigs)
    bad = [tmp_path / "audio" / "item1.wav", tmp_path / "audio" / "item4.wav"]
    for b in bad:
        b.write_bytes(b"RIFF....not audio at all" * 10)
    r = cli("evaluate", m, "--model", tmp_path / "model", "--n-boot", 0)
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert "item1.wav" in text and "item4.wav" in text and "row 2" in text and "row 5" in text
    assert "Traceback" not in r.output


def test_cli_predict_says_unknown_on_silence(tmp_path, cli):
    from helpers.voices import speechlike

    quiet = tmp_path / "silence.wav"
    sf.write(quiet, np.random.default_rng(0).standard_normal(30 * 8000).astype(np.float32) * 1e-4, 8000)
    talk = tmp_path / "talk.wav"
    sf.write(talk, speechlike(3.0, sr=8000, seed=1), 8000)
    r = cli("predict", quiet, talk, "--model", tmp_path / "model", "--json", tmp_path / "p.json")
    assert r.exit_code == 0, r.output
    rows = {row["file"].split("/")[-1]: row for row in json.loads((tmp_path / "p.json").read_text())["files"]}
    assert rows["silence.wav"]["emotion"] == "unknown" and rows["silence.wav"]["confidence"] is None
    assert rows["silence.wav"]["note"] == "no speech detected" and rows["silence.wav"]["speech"] == 0
    assert rows["talk.wav"]["emotion"] in LEVELS and rows["talk.wav"]["speech"] > 2.0
