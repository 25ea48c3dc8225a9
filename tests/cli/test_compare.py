"""``callemo compare``: two configurations over seeds on the same folds, Wilcoxon test, JSON out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from typer.testing import CliRunner

import callemo.cli.compare  # noqa: F401  (registers the command)
from callemo.cli import _load_commands
from callemo.cli.app import app
from helpers.voices import synth_voice

torch.set_num_threads(1)
_load_commands()  # the whole command set, so "compare" is a sub-command as for users

TINY = {"type": "cnn_bilstm", "sample_rate": 8000, "features": {"name": "logmel", "n_mels": 16},
        "conv_channels": [8, 8], "lstm_hidden": 6, "dense": 8, "lr": 3e-3, "epochs": 3, "patience": None,
        "batch_size": 8}


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path / "cache"))
    rows = ["path,speaker,emotion"]
    for s in range(4):
        for lab, f0 in (("sad", 100.0), ("angry", 260.0)):
            for r in range(2):
                f = tmp_path / f"s{s}_{lab}_{r}.wav"
                sf.write(f, synth_voice(1.2 + 0.4 * r, sr=8000, f0=f0 + 3 * s, seed=97 * s + r + int(f0)), 8000)
                rows.append(f"{f.name},spk{s},{lab}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({**TINY, "conv_channels": [4, 4], "lr": 1e-4}))
    return tmp_path


def test_compare_two_configs_over_seeds_same_folds(corpus):
    out = corpus / "cmp.json"
    r = CliRunner().invoke(app, ["compare", str(corpus / "m.csv"), "--config", str(corpus / "a.yaml"),
                                 "--config", str(corpus / "b.yaml"), "--seeds", "2", "--folds", "2",
                                 "--group", "speaker", "--n-boot", "20", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "Wilcoxon" in r.output
    res = json.loads(out.read_text())
    assert res["seeds"] == [0, 1]
    for key in ("a", "b"):
        assert len(res[key]["runs"]) == 2
        for run in res[key]["runs"]:
            assert 0.0 <= run["ua"] <= 1.0 and len(run["fold_ua"]) == 2
    w = res["wilcoxon"]
    assert w["n"] == 2 and "p_value" in w
    assert res["a"]["name"] == "a" and res["b"]["name"] == "b"
    assert w["mean_a"] == pytest.approx(np.mean([x["ua"] for x in res["a"]["runs"]]))


def test_compare_needs_two_configs_and_known_names(corpus):
    r = CliRunner().invoke(app, ["compare", str(corpus / "m.csv"), "--config", str(corpus / "a.yaml")])
    assert r.exit_code == 2 and "exactly two" in r.output
    r = CliRunner().invoke(app, ["compare", str(corpus / "m.csv"), "--config", "no_such_config",
                                 "--config", str(corpus / "a.yaml")])
    assert r.exit_code == 2 and "no_such_config" in r.output


def test_compare_refuses_a_misspelt_configuration_key(corpus):
    (corpus / "typo.yaml").write_text(yaml.safe_dump({**TINY, "lstm_hiden": 6}))
    r = CliRunner().invoke(app, ["compare", str(corpus / "m.csv"), "--config", str(corpus / "typo.yaml"),
                                 "--config", str(corpus / "a.yaml")])
    assert r.exit_code == 2
    assert "typo.yaml" in r.output and "lstm_hiden" in r.output and "lstm_hidden" in r.output
