"""`callemo train / predict / evaluate / crossval` through typer's CliRunner on a small RAVDESS subset."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from callemo.cli import _load_commands, app
from callemo.models.base import default_model_dir

_load_commands()
runner = CliRunner()


def invoke(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from callemo.corpora import build_manifest
    from callemo.labels.schemes import apply_setting
    from callemo.train.manifest import write_manifest
    from helpers.corpora import corpus_dir

    tmp = tmp_path_factory.mktemp("cli")
    old = os.environ.get("CALLEMO_CACHE")
    os.environ["CALLEMO_CACHE"] = str(tmp / "cache")
    d = build_manifest("ravdess", corpus_dir("ravdess"))
    d = d[d["speaker"].isin(sorted(d["speaker"].unique())[:4])]
    d = apply_setting(d, "4class").reset_index(drop=True)
    write_manifest(d, tmp / "m.csv")
    yield tmp, d
    if old is None:
        os.environ.pop("CALLEMO_CACHE", None)
    else:
        os.environ["CALLEMO_CACHE"] = old


@pytest.mark.corpus
def test_train_predict_evaluate(small):
    tmp, d = small
    model = tmp / "model"
    r = invoke("train", tmp / "m.csv", "-o", model, "--config", "svm_speaker", "--setting", "4class")
    assert r.exit_code == 0, r.output
    assert (model / "model.yaml").exists() and (model / "model.joblib").exists()
    import yaml

    card = yaml.safe_load((model / "model.yaml").read_text())
    assert card["training_data"]["n_items"] == len(d) and card["training_data"]["n_speakers"] == 4
    assert "non-commercial" in card["license"]["use"]
    assert card["features"][0]["name"] == "prosody" and card["sample_rate"] == 16000

    files = d["path"].tolist()[:2]
    r = invoke("predict", *files, "--model", model, "--json", tmp / "pred.json")
    assert r.exit_code == 0, r.output
    pred = json.loads((tmp / "pred.json").read_text())
    assert len(pred["files"]) == 2
    for f in pred["files"]:
        assert f["emotion"] in pred["labels"] and abs(sum(f["probabilities"].values()) - 1) < 1e-4

    r = invoke("evaluate", tmp / "m.csv", "--model", model, "--json", tmp / "ev.json", "--out", tmp / "ev",
               "--n-boot", 100)
    assert r.exit_code == 0, r.output
    ev = json.loads((tmp / "ev.json").read_text())
    for k in ("ua", "wa", "macro_f1"):
        assert 0 <= ev[k] <= 1
    assert len(ev["ua_ci"]) == 2 and ev["ua_ci"][0] <= ev["ua"] <= ev["ua_ci"][1]
    assert ev["ua"] > 0.6  # training data: well above chance
    assert (tmp / "ev" / "evaluate_confusion.csv").exists() and (tmp / "ev" / "evaluate_confusion.png").exists()


@pytest.mark.corpus
def test_crossval_json_has_baselines(small):
    tmp, _ = small
    out = tmp / "cv.json"
    r = invoke("crossval", tmp / "m.csv", "--group", "speaker", "--folds", 2, "--config", "svm_speaker", "--json", out,
               "--n-boot", 100, "--telephone", "--out", tmp / "cv")
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["protocol"]["k"] == 2 and len(res["folds"]) == 2
    assert res["protocol"]["telephone"] is True and res["protocol"]["sample_rate"] == 8000
    assert (tmp / "cv" / "crossval_confusion.png").exists()
    assert res["ua"] > res["baselines"]["majority"]["ua"]
    assert len(res["ua_ci"]) == 2
    for f in res["folds"]:
        assert len(f["test_groups"]) == 2


def test_predict_with_the_default_model(tmp_path):
    if not (default_model_dir() / "model.yaml").exists():
        pytest.skip("no default model shipped yet")
    from callemo.io import save_audio
    from helpers.voices import speechlike

    # speech-like syllables (silero-vad takes them for speech; predict ignores what is not speech)
    f = save_audio(tmp_path / "a.wav", speechlike(3.0, sr=16000), 16000)
    r = invoke("predict", f, "--json", tmp_path / "p.json")
    assert r.exit_code == 0, r.output
    p = json.loads((tmp_path / "p.json").read_text())
    assert p["files"][0]["speech"] > 2.0
    assert p["files"][0]["emotion"] in ("neutral", "happy", "sad", "angry")
    assert sum(p["files"][0]["probabilities"].values()) == pytest.approx(1.0)


def test_errors_are_one_line(tmp_path):
    r = invoke("evaluate", tmp_path / "missing.csv")
    assert r.exit_code == 2
    assert "missing.csv" in r.output
    r = invoke("crossval", tmp_path / "missing.csv", "--config", "no_such_config")
    assert r.exit_code == 2 and "no_such_config" in r.output
    r = invoke("predict", tmp_path / "nope.wav", "--model", tmp_path)
    assert r.exit_code == 2
