"""Training configurations: names, paths, ``extends``, and validation (a typo fails loudly)."""

from __future__ import annotations

import pytest
import yaml

from callemo.train.config import ConfigError, list_configs, load_config


def test_every_shipped_configuration_loads_and_validates():
    names = list_configs()
    assert {"default", "cnn_bilstm", "raw_cnn_lstm", "svm_speaker"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert cfg["type"] and cfg["name"]


def test_extends_overrides_and_the_merged_result_is_checked(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump({"extends": "cnn_bilstm", "epochs": 2}))
    cfg = load_config(p)
    assert cfg["epochs"] == 2 and cfg["type"] == "cnn_bilstm" and cfg["name"] == "mine"
    p.write_text(yaml.safe_dump({"extends": "cnn_bilstm", "epoch": 2}))
    typo = r"mine\.yaml: unknown key 'epoch' for a cnn_bilstm model \(did you mean 'epochs'\?\)"
    with pytest.raises(ConfigError, match=typo):
        load_config(p)


def test_wrong_value_types_and_unknown_types_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="epochs"):
        load_config({"type": "raw_cnn_lstm", "epochs": "many"})
    with pytest.raises(ConfigError, match="lstm_hidden"):
        load_config({"type": "cnn_bilstm", "lstm_hidden": 2.5})
    with pytest.raises(ConfigError, match="unknown model type 'svn'"):
        load_config({"type": "svn"})
    # numbers given as integers where the default is a float are fine, as is null
    cfg = load_config({"type": "cnn_bilstm", "clip": 5, "patience": None})
    assert cfg["clip"] == 5


def test_json_configurations_read_too(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"type": "ssl_svm", "encoder": "/nowhere", "C": 2}')
    assert load_config(p)["C"] == 2


def test_a_misspelt_key_of_the_default_svm_model_fails_loudly(tmp_path):
    """The svm and ensemble families declare their options too: a typo in `speaker_scale` or
    `noise_augment` (which change how the default model is trained) is refused, not ignored."""
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump({"extends": "default", "speaker_scale": 0.25,
                                 "noise_augment": {"copies": 2, "codecs": ["g711"]}}))
    assert load_config(p)["speaker_scale"] == 0.25
    p.write_text(yaml.safe_dump({"extends": "default", "speaker_scal": 0.25}))
    typo = r"unknown key 'speaker_scal' for a svm model \(did you mean 'speaker_scale'\?\)"
    with pytest.raises(ConfigError, match=typo):
        load_config(p)
    with pytest.raises(ConfigError, match="shrink"):
        load_config({"type": "svm", "shrink": "lots"})
    with pytest.raises(ConfigError, match=r"unknown key 'weight' for a ensemble model \(did you mean 'weights'\?\)"):
        load_config({"type": "ensemble", "members": [{"features": ["prosody"]}], "weight": [1.0]})
