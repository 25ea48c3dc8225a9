"""Corpus readers on the shared corpora (skipped when ../shared/data is absent) and the corpus command."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from callemo.corpora import CorpusError, build_manifest, build_manifests

pytestmark = pytest.mark.corpus

CANON = {"neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"}


def test_ravdess(ravdess_dir):
    df = build_manifest("ravdess", ravdess_dir)
    assert len(df) == 1440
    assert df["speaker"].nunique() == 24
    assert set(df["emotion"]) == CANON
    assert df["emotion"].value_counts()["neutral"] == 96 and df["emotion"].value_counts()["angry"] == 192
    assert df["intensity"].value_counts().to_dict() == {"normal": 768, "strong": 672}  # neutral has no strong
    assert df.loc[df.speaker == "ravdess_01", "gender"].unique().tolist() == ["m"]
    assert df.loc[df.speaker == "ravdess_24", "gender"].unique().tolist() == ["f"]
    assert (df["gender"].value_counts() == 720).all()
    assert set(df["statement"]) == {1, 2} and set(df["corpus"]) == {"ravdess"}
    row = df[df["path"].str.endswith("03-01-05-02-01-02-07.flac")].iloc[0]
    assert (row.emotion, row.intensity, row.speaker, row.gender, row.repetition) == (
        "angry", "strong", "ravdess_07", "m", 2)


def test_savee(savee_dir):
    df = build_manifest("savee", savee_dir)
    assert len(df) == 480
    assert sorted(df["speaker"].unique()) == ["savee_DC", "savee_JE", "savee_JK", "savee_KL"]
    counts = df["emotion"].value_counts().to_dict()
    assert counts == {"neutral": 120, "angry": 60, "disgust": 60, "fearful": 60, "happy": 60, "sad": 60,
                      "surprised": 60}
    assert set(df["gender"]) == {"m"} and set(df["language"]) == {"en-GB"}
    row = df[df["path"].str.endswith("JK_sa03.flac")].iloc[0]
    assert (row.emotion, row.speaker) == ("sad", "savee_JK")


def test_nemo(nemo_dir):
    df = build_manifest("nemo", nemo_dir)
    assert len(df) == 4481
    assert df["speaker"].nunique() == 9
    assert not df["speaker"].str.contains(r"\s").any()  # whitespace around speaker_id stripped
    assert set(df["emotion"]) == {"neutral", "happy", "sad", "angry", "fearful", "surprised"}
    assert df["emotion"].value_counts()["neutral"] == 809
    assert df.groupby("gender")["speaker"].nunique().to_dict() == {"f": 4, "m": 5}
    assert df["path"].str.endswith(".flac").all()
    assert df.loc[df.speaker == "nemo_MP0"].shape[0] == 256


def test_corpora_concatenate_without_speaker_clash(ravdess_dir, savee_dir):
    df = build_manifests({"ravdess": ravdess_dir, "savee": savee_dir})
    assert len(df) == 1920 and df["speaker"].nunique() == 28
    assert df.groupby("speaker")["corpus"].nunique().max() == 1


def test_wrong_folder_is_a_clear_error(savee_dir, tmp_path):
    with pytest.raises(CorpusError, match="not a RAVDESS folder"):
        build_manifest("ravdess", savee_dir)
    with pytest.raises(CorpusError, match=r"no data\.tsv"):
        build_manifest("nemo", savee_dir)
    with pytest.raises(CorpusError, match="not a SAVEE folder"):
        build_manifest("savee", tmp_path)
    with pytest.raises(CorpusError, match="folder not found"):
        build_manifest("savee", tmp_path / "nothing")
    with pytest.raises(CorpusError, match="unknown corpus"):
        build_manifest("iemocap", tmp_path)


def test_corpus_command_writes_a_readable_manifest(savee_dir, tmp_path):
    from callemo.cli import _load_commands, app
    from callemo.train.manifest import read_manifest

    _load_commands()
    out = tmp_path / "savee.csv"
    r = CliRunner().invoke(app, ["corpus", "savee", str(savee_dir), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "neutral" in r.output and "480" in r.output
    df = read_manifest(out, check_bounds=False)
    assert len(df) == 480 and df["speaker"].nunique() == 4
    bad = CliRunner().invoke(app, ["corpus", "ravdess", str(savee_dir), "-o", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "not a RAVDESS folder" in bad.output
    assert not (tmp_path / "x.csv").exists()


def test_manifest_rows_load_as_signals(nemo_dir, savee_dir):
    import numpy as np

    from callemo.train.manifest import load_signals

    nemo = build_manifest("nemo", nemo_dir).iloc[:3]
    sig = load_signals(nemo, 8000)
    assert all(x.ndim == 1 and x.dtype == np.float32 and len(x) > 8000 * 0.5 for x in sig)  # utterances > 0.5 s
    savee = build_manifest("savee", savee_dir).iloc[:2]
    tel = load_signals(savee, 8000, telephone=True)
    wide = load_signals(savee, 8000)
    assert [len(x) for x in tel] == [len(x) for x in wide]
    assert all(np.max(np.abs(x)) <= 1.0 for x in tel)
