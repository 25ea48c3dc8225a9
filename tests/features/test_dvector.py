"""resemblyzer d-vector features (``dvector`` extractor) on generated voices, and a model trained on them.

Needs resemblyzer (installed with ``pip install --no-deps resemblyzer``, as the README says); skipped with
a reason when it is missing.
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

needs_resemblyzer = pytest.mark.skipif(
    importlib.util.find_spec("resemblyzer") is None,
    reason="the dvector features need resemblyzer (pip install --no-deps resemblyzer)")
pytestmark = needs_resemblyzer

# two voices: a low male-like one and a high female-like one, with different vocal tracts
VOICES = {"a": {"f0": 105.0, "formants": (650.0, 1100.0, 2450.0)},
          "b": {"f0": 215.0, "formants": (850.0, 1650.0, 2950.0)}}


def _utterance(voice: str, seed: int, sr: int = 16000, dur: float = 2.0) -> np.ndarray:
    return synth_voice(dur, sr=sr, seed=seed, swing=1.5, **VOICES[voice])


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path / "cache"))


def _extractor(**kw):
    from callemo.features import get_extractor

    return get_extractor("dvector", **kw)


def test_shape_unit_norm_deterministic_and_rates():
    x16 = _utterance("a", 1)
    ex = _extractor()
    a = ex.process_signal(x16, 16000)
    b = ex.process_signal(x16.copy(), 16000)
    assert a.shape == (256,) and ex.feature_names[0] == "dvector_0" and ex.dim == 256
    assert np.all(np.isfinite(a)) and np.isclose(np.linalg.norm(a), 1.0, atol=1e-5)
    assert np.array_equal(a, b)
    # at the telephone rate (resampled to 16 kHz inside), and a segment shorter than one window
    t = _extractor(sample_rate=8000).process_signal(_utterance("a", 1, sr=8000), 8000)
    short = ex.process_signal(x16[:8000], 16000)
    assert t.shape == short.shape == (256,)
    assert np.all(np.isfinite(t)) and np.all(np.isfinite(short))


def test_bad_parameters_are_refused():
    from callemo.features import FeatureError

    with pytest.raises(FeatureError, match="dvector"):
        _extractor(win=0.1)


def test_two_voices_are_separated():
    """Leave-one-out nearest centroid over utterances of two voices (different seeds = different
    prosody and jitter): the d-vectors must tell the voices apart far better than chance (0.5)."""
    ex = _extractor(sample_rate=8000)
    X, who = [], []
    for v in VOICES:
        for s in range(6):
            X.append(ex.process_signal(_utterance(v, 10 + s, sr=8000), 8000))
            who.append(v)
    X, who = np.array(X), np.array(who)
    right = 0
    for i in range(len(X)):
        rest = np.arange(len(X)) != i
        cents = {v: X[rest & (who == v)].mean(axis=0) for v in VOICES}
        right += max(cents, key=lambda v: float(X[i] @ cents[v])) == who[i]
    assert right / len(X) >= 0.9
    within = np.mean([X[i] @ X[j] for i in range(len(X)) for j in range(len(X)) if i < j and who[i] == who[j]])
    between = np.mean([X[i] @ X[j] for i in range(len(X)) for j in range(len(X)) if who[i] != who[j]])
    assert within > between


def test_extract_caches_on_disk(tmp_path):
    from callemo.features import cache_root, extract, get_extractor

    ex = _extractor(sample_rate=8000)
    sigs = [_utterance("a", s, sr=8000, dur=1.2) for s in range(2)]
    m1 = extract(ex, sigs, cache=True)
    files = sorted(cache_root().rglob("*.npy"))
    assert m1.shape == (2, 256) and len(files) == 2
    params = json.loads(next(cache_root().rglob("params.json")).read_text())
    assert params["extractor"] == "dvector" and params["params"]["win"] == 1.6
    m2 = extract(get_extractor(ex.params()), sigs, cache=True)  # served from the cache
    assert np.array_equal(m1, m2)
    np.save(files[0], np.zeros(256, np.float32))  # the cache is really read
    assert not np.array_equal(extract(ex, sigs, cache=True)[0], m1[0])


def test_callemo_train_with_svm_dvector(tmp_path):
    """`callemo train --config svm_dvector` on a tiny manifest of generated audio, then predict."""
    from callemo.cli import _load_commands, app
    from callemo.models.base import load_model

    _load_commands()
    rows = []
    for si, (spk, voice) in enumerate((("s1", "a"), ("s2", "b"))):
        for ei, (emo, swing, level) in enumerate((("neutral", 0.5, 0.2), ("angry", 4.0, 0.6))):
            for k in range(4):
                x = synth_voice(1.5, sr=8000, seed=100 * si + 10 * ei + k, swing=swing, level=level,
                                **VOICES[voice])
                p = tmp_path / f"{spk}_{emo}_{k}.wav"
                sf.write(p, x, 8000)
                rows.append(f"{p},{spk},{emo}")
    (tmp_path / "m.csv").write_text("path,speaker,emotion\n" + "\n".join(rows) + "\n")
    r = CliRunner().invoke(app, ["train", str(tmp_path / "m.csv"), "-o", str(tmp_path / "model"),
                                 "--config", "svm_dvector"])
    assert r.exit_code == 0, r.output
    card = yaml.safe_load((tmp_path / "model" / "model.yaml").read_text())
    assert "dvector" in json.dumps(card, default=str)
    model = load_model(tmp_path / "model")
    x = synth_voice(1.5, sr=8000, seed=999, swing=4.0, level=0.6, **VOICES["a"])
    p = model.predict_proba([x], ["s9"])
    assert p.shape == (1, 2) and np.isclose(p.sum(), 1.0)
