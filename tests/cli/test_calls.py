"""`callemo analyze` and `callemo simulate` from the command line."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from callemo.cli import _load_commands, app
from callemo.io import save_audio
from helpers.calls import EXAMPLE, ROOT, example_audio, tm

_load_commands()
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tm.saved_model(tmp_path_factory.mktemp("model") / "tiny")


def test_help_lists_options():
    r = invoke("analyze", "--help")
    assert r.exit_code == 0
    for opt in ("--out", "--model", "--channels", "--speakers", "--first-speaker", "--jobs", "--force",
                "--max-silence", "--no-html", "--no-plot", "--format"):
        assert opt in r.output
    assert invoke("simulate", "--help").exit_code == 0


@pytest.mark.parametrize("args, words", [
    (["--speakers", "many"], "--speakers"),
    (["--channels", "agent,boss"], "--channels"),
    (["--first-speaker", "robot"], "--first-speaker"),
    (["--format", "xlsx"], "--format"),
])
def test_bad_options_exit_2(tmp_path, args, words):
    r = invoke("analyze", EXAMPLE, "--out", tmp_path, *args)
    # the option named as the flag or as its AnalysisOptions field (speakers, first_speaker)
    text = " ".join(r.output.replace("│", " ").split())
    assert r.exit_code == 2 and (words in text or words.lstrip("-").replace("-", "_") in text), r.output


def test_no_audio_found_is_a_clear_error(tmp_path, model_dir):
    (tmp_path / "in").mkdir()
    r = invoke("analyze", tmp_path / "in", "--out", tmp_path / "out", "--model", model_dir)
    assert r.exit_code == 2 and "no audio files found" in r.output and "Traceback" not in r.output


def test_bad_model_dir_is_a_clear_error(tmp_path):
    r = invoke("analyze", EXAMPLE, "--out", tmp_path / "out", "--model", tmp_path / "nomodel")
    assert r.exit_code == 2 and "model directory not found" in r.output


def test_failed_files_exit_1_and_are_listed(tmp_path, model_dir):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    r = invoke("analyze", tmp_path / "in", "--out", tmp_path / "out", "--model", model_dir, "--quiet")
    assert r.exit_code == 1
    assert "empty.wav: file is empty" in r.output and "Traceback" not in r.output
    with open(tmp_path / "out" / "errors.csv") as f:
        assert [Path(x["file"]).name for x in csv.DictReader(f)] == ["empty.wav"]


def test_bad_paths_exit_1_with_one_line_each(tmp_path, model_dir):
    import os

    os.symlink("loop.wav", tmp_path / "loop.wav")
    os.symlink(tmp_path / "nowhere.wav", tmp_path / "gone.wav")
    r = invoke("analyze", tmp_path / "loop.wav", tmp_path / "gone.wav", "--out", tmp_path / "out", "--model", model_dir,
               "--quiet")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{tmp_path / 'loop.wav'}: symbolic link loop" in r.output
    assert f"{tmp_path / 'gone.wav'}: dangling symbolic link" in r.output
    with open(tmp_path / "out" / "errors.csv") as f:
        assert [Path(x["file"]).name for x in csv.DictReader(f)] == ["loop.wav", "gone.wav"]


def test_output_folder_that_cannot_be_written_exits_2(tmp_path, model_dir):
    (tmp_path / "file").write_text("not a folder")
    r = invoke("analyze", EXAMPLE, "--out", tmp_path / "file" / "out", "--model", model_dir, "--quiet")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert f"{tmp_path / 'file' / 'out'}: cannot write to the output folder" in " ".join(r.output.split())


def test_analyze_mono_and_stereo_calls(tmp_path, model_dir):
    x, sr = example_audio()
    x = x[: 30 * sr]
    inp = tmp_path / "in"
    save_audio(inp / "mono.wav", x, sr)
    hiss = (3e-4 * np.random.default_rng(0).standard_normal(len(x))).astype(np.float32)
    save_audio(inp / "stereo.wav", np.stack([x, hiss]), sr)  # only channel 0 talks
    out = tmp_path / "out"
    r = invoke("analyze", inp, "--out", out, "--model", model_dir, "--channels", "client,agent", "--quiet",
               "--format", "parquet")
    assert r.exit_code == 0, r.output
    stereo = json.loads((out / "stereo.json").read_text())
    assert stereo["channels"] == 2 and {s["role"] for s in stereo["segments"]} == {"client"}
    mono = json.loads((out / "mono.json").read_text())
    assert mono["channels"] == 1 and {s["role"] for s in mono["segments"]} == {"agent", "client"}
    import pandas as pd

    t = pd.read_parquet(out / "mono.parquet")
    assert len(t) == len(mono["segments"]) and "p_angry" in t.columns
    # a rerun with the same settings skips both; other settings redo them
    r2 = invoke("analyze", inp, "--out", out, "--model", model_dir, "--channels", "client,agent", "--quiet",
                "--format", "parquet")
    assert r2.exit_code == 0 and "0 analysed, 2 skipped" in r2.output, r2.output
    r3 = invoke("analyze", inp, "--out", out, "--model", model_dir, "--quiet", "--format", "parquet")
    assert r3.exit_code == 0 and "redoing 2 (settings changed)" in r3.output and "2 analysed" in r3.output


def test_readme_first_command(tmp_path):
    """`callemo analyze examples/call.wav --out out` with the shipped default model, as on a fresh clone."""
    from callemo.models.base import default_model_dir

    if not (default_model_dir() / "model.yaml").exists():
        pytest.skip("the default model (src/callemo/default_model) is not there yet")
    exe = shutil.which("callemo")
    cmd = [exe] if exe else [sys.executable, "-m", "callemo"]
    p = subprocess.run([*cmd, "analyze", "examples/call.wav", "--out", str(tmp_path / "out"), "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads((tmp_path / "out" / "call.json").read_text())
    from callemo.analyze.schema import CallJSON

    CallJSON.model_validate(doc)
    assert {s["role"] for s in doc["segments"]} == {"agent", "client"}
    # by default only the client's emotions are inferred (the agent's segments carry none)
    assert doc["model"]["labels"]
    assert all(s["emotion"] in doc["model"]["labels"] + ["unknown"] for s in doc["segments"] if s["role"] == "client")
    assert all(s["emotion"] is None for s in doc["segments"] if s["role"] == "agent")
    assert (tmp_path / "out" / "call.html").exists()


def test_simulate_command(tmp_path):
    pytest.importorskip("callemo.simulate.calls")
    import pandas as pd

    from helpers.calls import example_turns

    # a manifest of real utterances: the example call's turns (agent = speaker a, client = b)
    x, sr = example_audio()
    rows = []
    for k, (s, e, role) in enumerate(example_turns()):
        p = save_audio(tmp_path / "utt" / f"{k}.wav", x[int(s * sr): int(e * sr)], sr)
        emotion = "angry" if (role == "client" and s < 30) else "neutral"
        rows.append({"path": str(p), "speaker": "a" if role == "agent" else "b", "emotion": emotion})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    r = invoke("simulate", tmp_path / "m.csv", "-o", tmp_path / "calls", "--calls", 2, "--seed", 1, "--stereo",
               "--quiet")
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "calls").rglob("*.rttm"))) == 2
    assert len(list((tmp_path / "calls").rglob("*_stereo.wav"))) == 2
