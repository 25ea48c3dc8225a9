"""Call selection (paper 000): silence compression, then ranking by F0 variability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callemo.prep.silence import compress as compress_silences
from callemo.train.selection import (
    F0Measure,
    SelectionError,
    audio_files,
    compress,
    energy_regions,
    rank_calls,
)
from helpers.annotations import SR, harmonic_voice, make_calls, synthetic_call


def _is_emotional(path: str) -> bool:
    return Path(path).name.startswith("emotional")


@pytest.fixture(scope="module")
def calls_dir(tmp_path_factory):
    return make_calls(tmp_path_factory.mktemp("calls"))


def test_energy_regions_and_compression():
    x = synthetic_call("neutral", 0)  # 1.5 s turn, 0.4 s pause, 1.5 s turn, 5 s pause, 1.5 s turn, 0.4 s
    regions = energy_regions(x, SR)
    assert len(regions) == 3
    assert regions[0][0] < 0.05 and regions[1][0] == pytest.approx(1.9, abs=0.05)
    y, _ = compress_silences(x, SR, regions, max_silence=3.0, target=1.0)
    assert len(y) / SR == pytest.approx(len(x) / SR - 4.0, abs=0.06)  # the 5 s pause became 1 s
    assert len(compress_silences(x, SR, regions, max_silence=6.0)[0]) == len(x)  # nothing over 6 s
    y2, how = compress(x, SR)
    assert len(y2) / SR == pytest.approx(len(y) / SR, abs=0.06) and how.startswith("energy+")


def test_f0_measures_separate_steady_and_lively_voices():
    steady = harmonic_voice(2.0, 140, 0.3, 1)
    lively = harmonic_voice(2.0, 180, 4.0, 2)
    for backend in ("prosody", "yin"):
        m = F0Measure(backend)
        assert m(lively, SR, cache=False) > 3 * m(steady, SR, cache=False), backend


def test_select_ranks_emotional_calls_first(calls_dir):
    df = rank_calls(calls_dir, cache=False)  # auto: eGeMAPS when openSMILE is installed, else prosody
    assert len(df) == 6 and df["rank"].tolist() == list(range(1, 7))
    assert all(_is_emotional(p) for p in df["path"][:3]), df[["path", "score"]]
    assert df["score"].is_monotonic_decreasing
    assert (df["compressed_duration"] < df["duration"] - 3.5).all()  # the 5 s pause was compressed
    top = rank_calls(calls_dir, top=2, backend="prosody", cache=False)
    assert len(top) == 2 and all(_is_emotional(p) for p in top["path"])
    assert top["feature"].iloc[0] == "f0_std_semitones"


def test_select_with_the_project_voice_generator(tmp_path):
    """tests/conftest.py::synth_voice: steady calls vs calls whose turns jump between F0 levels."""
    import soundfile as sf

    from helpers.voices import synth_voice

    for i in range(2):
        steady = np.concatenate([synth_voice(1.5, f0=140, vibrato=0.02, seed=i * 10 + k) for k in range(3)])
        lively = np.concatenate([synth_voice(1.5, f0=f, vibrato=0.2, seed=50 + i * 10 + k)
                                 for k, f in enumerate((110, 240, 160))])
        sf.write(tmp_path / f"neutral{i}.wav", steady, SR)
        sf.write(tmp_path / f"emotional{i}.wav", lively, SR)
    df = rank_calls(tmp_path, backend="prosody", cache=False)
    assert all(_is_emotional(p) for p in df["path"][:2]), df[["path", "score"]]


def test_unreadable_files_come_last_and_errors(tmp_path):
    make_calls(tmp_path, n=1)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    (tmp_path / "notes.txt").write_text("not audio")
    assert [p.name for p in audio_files(tmp_path)] == ["broken.wav", "emotional0.wav", "neutral0.wav"]
    df = rank_calls(tmp_path, backend="prosody", cache=False)
    assert Path(df["path"].iloc[-1]).name == "broken.wav" and df["error"].iloc[-1]
    assert np.isnan(df["score"].iloc[-1]) and _is_emotional(df["path"].iloc[0])
    with pytest.raises(SelectionError, match="no audio files"):
        rank_calls(_empty(tmp_path))
    with pytest.raises(SelectionError, match="no such file"):
        rank_calls(tmp_path / "missing")
    with pytest.raises(SelectionError, match="no longer than"):
        rank_calls(tmp_path, max_silence=1.0, target=2.0)
    with pytest.raises(SelectionError, match="unknown F0 backend"):
        F0Measure("praat")


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d
