"""Manifest reading/validation (each bad-row case names its row), writing, and signal loading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from callemo.io import save_audio
from callemo.train.manifest import ManifestError, load_signals, read_manifest, row_seed, write_manifest

SR = 16000


@pytest.fixture
def audio_dir(tmp_path, voice):
    d = tmp_path / "audio"
    save_audio(d / "a.wav", voice(2.0, SR, seed=1), SR)  # 2.0 s
    save_audio(d / "b.wav", voice(1.0, SR, f0=220, seed=2), SR)  # 1.0 s
    return d


def write_csv(path, text):
    path.write_text(text.strip() + "\n")
    return path


def test_reads_valid_manifest_and_resolves_relative_paths(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", """
path,start,end,speaker,emotion,valence,arousal,gender,call_id
audio/a.wav,0.5,1.5,s1,Angry,-0.6,0.7,f,c01
audio/b.wav,,,s2,neutral,,,m,c02
""")
    df = read_manifest(m, labels=["angry", "neutral"])
    assert list(df.columns[:5]) == ["path", "start", "end", "speaker", "emotion"]
    assert df.loc[0, "path"] == str((audio_dir / "a.wav").resolve())
    assert df.loc[0, "start"] == 0.5 and df.loc[0, "end"] == 1.5
    assert np.isnan(df.loc[1, "start"]) and np.isnan(df.loc[1, "end"])
    assert df["emotion"].tolist() == ["angry", "neutral"]  # stripped and lower-cased
    assert df.loc[0, "valence"] == -0.6 and np.isnan(df.loc[1, "arousal"])
    assert df["call_id"].tolist() == ["c01", "c02"]  # ids with leading zeros stay strings
    assert df["speaker"].tolist() == ["s1", "s2"]


def test_root_overrides_manifest_folder(tmp_path, audio_dir):
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    m = write_csv(sub / "m.csv", "path,speaker,emotion\na.wav,s1,happy\n")
    with pytest.raises(ManifestError, match="file not found"):
        read_manifest(m)
    df = read_manifest(m, root=audio_dir)
    assert df.loc[0, "path"] == str((audio_dir / "a.wav").resolve())


def test_missing_file_names_row(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", "path,speaker,emotion\naudio/a.wav,s1,happy\naudio/nope.wav,s1,sad\n")
    with pytest.raises(ManifestError) as e:
        read_manifest(m)
    msg = str(e.value)
    assert str(m) in msg and "row 2 (line 3)" in msg and "file not found" in msg and "nope.wav" in msg
    # not checked when check_files=False
    assert len(read_manifest(m, check_files=False)) == 2


def test_end_not_after_start_names_row(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", "path,start,end,speaker,emotion\naudio/a.wav,1.0,1.0,s1,happy\n")
    with pytest.raises(ManifestError, match=r"row 1 \(line 2\): end 1 <= start 1"):
        read_manifest(m)


def test_segment_beyond_file_names_row(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", """
path,start,end,speaker,emotion
audio/a.wav,0,2.0,s1,happy
audio/b.wav,0.5,1.8,s2,sad
audio/b.wav,1.5,,s2,sad
""")
    with pytest.raises(ManifestError) as e:
        read_manifest(m)
    msg = str(e.value)
    assert "row 2 (line 3): segment end 1.8 s is beyond the end of b.wav (1.000 s)" in msg
    assert "row 3 (line 4): segment start 1.5 s is beyond the end of b.wav" in msg
    assert "row 1" not in msg  # 2.0 s on a 2.0 s file is fine
    assert len(read_manifest(m, check_bounds=False)) == 3


def test_unknown_label_names_row(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", "path,speaker,emotion\naudio/a.wav,s1,happy\naudio/b.wav,s2,bored\n")
    with pytest.raises(ManifestError, match=r"row 2 \(line 3\): unknown label 'bored' \(allowed: happy, sad\)"):
        read_manifest(m, labels=["happy", "sad"])
    assert read_manifest(m)["emotion"].tolist() == ["happy", "bored"]  # no label list: anything goes


def test_missing_required_column(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", "path,emotion\naudio/a.wav,happy\n")
    with pytest.raises(ManifestError, match=r"m\.csv: missing required column\(s\) 'speaker'"):
        read_manifest(m)


def test_bad_number_names_row_and_column(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", "path,start,end,speaker,emotion,valence\naudio/a.wav,0,1,s1,happy,0.2\n"
                                      "audio/a.wav,0,1.x,s1,happy,high\n")
    with pytest.raises(ManifestError) as e:
        read_manifest(m)
    msg = str(e.value)
    assert "row 2 (line 3): end '1.x' is not a number" in msg
    assert "row 2 (line 3): valence 'high' is not a number" in msg


def test_empty_speaker_names_row(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", "path,speaker,emotion\naudio/a.wav,s1,happy\naudio/b.wav, ,sad\n")
    with pytest.raises(ManifestError, match=r"row 2 \(line 3\): empty speaker"):
        read_manifest(m)


def test_all_problems_collected_in_one_error(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv", """
path,start,end,speaker,emotion
audio/missing.wav,,,s1,happy
audio/a.wav,1,0.5,s1,happy
audio/a.wav,0,1,s1,furious
""")
    with pytest.raises(ManifestError) as e:
        read_manifest(m, labels=["happy"])
    assert len(e.value.problems) == 3
    assert [p.split(":")[0] for p in e.value.problems] == ["row 1 (line 2)", "row 2 (line 3)", "row 3 (line 4)"]


def test_empty_and_absent_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest file not found"):
        read_manifest(tmp_path / "none.csv")
    m = write_csv(tmp_path / "m.csv", "path,speaker,emotion")
    with pytest.raises(ManifestError, match="no rows"):
        read_manifest(m)


def test_write_then_read_round_trip(tmp_path, audio_dir):
    df = pd.DataFrame({
        "path": [str(audio_dir / "a.wav"), str(audio_dir / "b.wav")],
        "speaker": ["s1", "s2"], "emotion": ["happy", "sad"], "start": [0.25, np.nan], "end": [1.75, np.nan],
        "gender": ["f", "m"],
    })
    out = write_manifest(df, tmp_path / "sub" / "m.csv", relative=True)
    text = out.read_text().splitlines()
    assert text[0] == "path,start,end,speaker,emotion,gender"
    assert text[1].startswith("../audio/a.wav,0.25,1.75,s1,happy")
    back = read_manifest(out)
    assert back["path"].tolist() == [str((audio_dir / n).resolve()) for n in ("a.wav", "b.wav")]
    assert back.loc[0, "end"] == 1.75 and np.isnan(back.loc[1, "end"])


def test_load_signals_segments_rates_and_telephone(tmp_path, audio_dir):
    m = write_csv(tmp_path / "m.csv",
                  "path,start,end,speaker,emotion\naudio/a.wav,0.5,1.5,s1,happy\naudio/b.wav,,,s2,sad\n")
    df = read_manifest(m)
    sig = load_signals(df, 8000)
    assert [len(x) for x in sig] == [8000, 8000]  # 1.0 s each at 8 kHz
    assert all(x.dtype == np.float32 for x in sig)
    t1 = load_signals(df, 16000, telephone=True)
    t2 = load_signals(df, 16000, telephone=True)
    assert [len(x) for x in t1] == [16000, 16000]
    for a, b in zip(t1, t2):  # per-row seeds: identical on every call
        np.testing.assert_array_equal(a, b)
    clean = load_signals(df, 16000)
    assert not np.allclose(t1[0], clean[0], atol=1e-3)  # degraded
    # the seed depends on the file name and times, not on the folder
    assert row_seed("/x/a.wav", 0.5, 1.5) == row_seed("/y/a.wav", 0.5, 1.5) != row_seed("/y/a.wav", 0.5, 1.6)
    par = load_signals(df, 16000, telephone=True, jobs=2)
    for a, b in zip(t1, par):
        np.testing.assert_array_equal(a, b)


def test_manifest_command_reports_bad_rows(tmp_path, audio_dir):
    from typer.testing import CliRunner

    from callemo.cli import _load_commands, app

    _load_commands()
    good = write_csv(tmp_path / "good.csv", "path,speaker,emotion\naudio/a.wav,s1,anger\naudio/b.wav,s2,calm\n")
    r = CliRunner().invoke(app, ["manifest", str(good), "--setting", "4class"])
    assert r.exit_code == 0, r.output
    assert "angry" in r.output and "calm" not in r.output  # 4class maps anger -> angry, drops calm
    bad = write_csv(tmp_path / "bad.csv", "path,start,end,speaker,emotion\naudio/a.wav,3,2,s1,happy\n")
    r = CliRunner().invoke(app, ["manifest", str(bad)])
    assert r.exit_code == 2 and "row 1 (line 2)" in r.output and "end 2 <= start 3" in r.output


def test_empty_and_unreadable_files_name_rows(tmp_path, audio_dir):
    (audio_dir / "empty.wav").write_bytes(b"")
    (audio_dir / "junk.wav").write_bytes(b"not audio at all" * 100)
    m = write_csv(tmp_path / "m.csv",
                  "path,start,end,speaker,emotion\naudio/empty.wav,,,s1,happy\naudio/junk.wav,0,1,s1,sad\n")
    with pytest.raises(ManifestError) as e:
        read_manifest(m)
    assert e.value.problems[0].startswith("row 1 (line 2): empty file (0 bytes)")
    assert e.value.problems[1].startswith("row 2 (line 3): unreadable audio") and "junk.wav" in e.value.problems[1]
